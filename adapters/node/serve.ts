// Serves a gateway on Node with @hono/node-server: the abuse limits of the HTTP layer (header size and
// count, slow headers, slow or stalled bodies) and graceful shutdown.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import { codes, type ErrorName, GatewayError } from '../../src/errors.ts';
import type { Gateway } from '../../src/gateway.ts';

export interface NodeServer {
  server: Server;
  port: number;
  url: string;
  /** Stops accepting, lets in-flight requests finish within `graceMs`, then closes the rest. */
  close(graceMs?: number): Promise<void>;
}

/** What one client may cost the Node server before the gateway sees its request. See SECURITY.md. */
export interface NodeLimits {
  /** Request line and header section, in bytes; more is a 431 (Node's maxHeaderSize). */
  maxHeaderBytes: number;
  /** Header fields per request; more is a 431 (Envoy's default is also 100). */
  maxHeaders: number;
  /** Time to receive the request line and headers; past it, a 408 and the connection is closed. */
  headersTimeoutMs: number;
  /** Time to receive the whole request, body included; past it, a 408. */
  requestTimeoutMs: number;
  /** Longest pause in the middle of a request body (nginx's client_body_timeout); past it, a 408. */
  bodyIdleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_NODE_LIMITS: Readonly<NodeLimits> = Object.freeze({
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  bodyIdleTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
});

export interface ServeOptions {
  port?: number;
  hostname?: string;
  limits?: Partial<NodeLimits>;
}

/** The socket's peer address, for `deps.clientIp`. */
export function nodeClientIp(_request: Request, env: unknown): string | undefined {
  const incoming = (env as HttpBindings | undefined)?.incoming as IncomingMessage | undefined;
  const addr = incoming?.socket?.remoteAddress;
  return addr?.startsWith('::ffff:') ? addr.slice(7) : addr;
}

/** A complete HTTP/1.1 error response with the documented JSON body, for a socket the parser gave up on. */
function rawError(name: ErrorName): string {
  const { status } = codes[name];
  const body = JSON.stringify(new GatewayError(name).toJSON());
  const reason =
    { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[status as 400 | 408 | 431] ?? 'Error';
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * What Node does without a 'clientError' listener, with our JSON bodies: answer only when no response
 * is under way on the socket (else the peer would read a corrupt stream), then close it.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code !== 'ECONNRESET' && socket.writable && (inFlight == null || !inFlight.headersSent)) {
    const name: ErrorName =
      err.code === 'HPE_HEADER_OVERFLOW' ? 'headersTooLarge' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'requestTimeout' : 'malformedBody';
    socket.end(rawError(name));
  }
  socket.destroy();
}

/**
 * Cuts a request whose body stalls: no byte from the client for `idleMs` while nothing it sent is
 * waiting for us to read (a body held back by our own backpressure is not the client's stall).
 * Progress is judged in setImmediate, after the event loop's poll phase: a timer alone runs before
 * pending socket reads, so a busy process would see no progress and cut a client that was sending.
 */
function watchBody(req: IncomingMessage, res: ServerResponse, idleMs: number): void {
  const socket = req.socket;
  let seen = socket.bytesRead;
  let progressAt = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  const check = () => {
    if (stopped || req.complete || socket.destroyed) return;
    const now = socket.bytesRead;
    // Bytes waiting in the message's buffer, or a consumer that paused it (Readable.toWeb does when
    // its queue is full): the wait is ours.
    if (now !== seen || req.readableLength > 0 || req.isPaused()) {
      seen = now;
      progressAt = performance.now();
    } else if (performance.now() - progressAt >= idleMs) {
      const err: NodeJS.ErrnoException = new Error(`request body idle for ${idleMs} ms`);
      err.code = 'ERR_HTTP_REQUEST_TIMEOUT';
      onClientError(err, socket);
      return;
    }
    timer = setTimeout(tick, idleMs / 4).unref();
  };
  const tick = () => setImmediate(check).unref();
  timer = setTimeout(tick, idleMs / 4).unref();
  res.once('close', stop);
  req.once('end', stop);
}

export function serveNode(gateway: Gateway, options: ServeOptions = {}): Promise<NodeServer> {
  const limits: NodeLimits = { ...DEFAULT_NODE_LIMITS, ...options.limits };
  const tooManyHeaders = new GatewayError('headersTooLarge', { limit: `${limits.maxHeaders} header fields` });
  const server = createAdaptorServer({
    fetch: (request, env) => {
      // Node keeps the first maxHeadersCount fields and drops the rest silently; one over the cap is refused.
      const incoming = (env as HttpBindings).incoming as IncomingMessage;
      if (incoming.rawHeaders.length > 2 * limits.maxHeaders) {
        return new Response(JSON.stringify(tooManyHeaders.toJSON()), {
          status: 431,
          headers: { 'content-type': 'application/json; charset=utf-8', connection: 'close' },
        });
      }
      const declared = incoming.headers['transfer-encoding'] !== undefined || Number(incoming.headers['content-length'] ?? 0) > 0;
      if (!declared) return gateway.fetch(request, env);
      // Answered before the body was read (a 413, a 401, a 404): close the connection after the reply
      // instead of letting Node read and discard the rest of a body that may be huge or never end.
      return gateway.fetch(request, env).then((response) => {
        if (!incoming.complete) ((env as HttpBindings).outgoing as ServerResponse).shouldKeepAlive = false;
        return response;
      });
    },
    hostname: options.hostname,
    serverOptions: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // How often Node checks the two timeouts above (default 30 s, which would let them run long).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, limits.headersTimeoutMs / 4, limits.requestTimeoutMs / 4)),
    },
  }) as Server;
  server.maxHeadersCount = limits.maxHeaders + 1;
  server.on('clientError', onClientError);
  if (limits.bodyIdleTimeoutMs > 0) {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!req.complete && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)) {
        watchBody(req, res, limits.bodyIdleTimeoutMs);
      }
    });
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.hostname ?? '0.0.0.0', () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      const host = options.hostname && options.hostname !== '0.0.0.0' ? options.hostname : '127.0.0.1';
      resolve({
        server,
        port,
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
        close: (graceMs = 10_000) =>
          new Promise<void>((done) => {
            const force = setTimeout(() => server.closeAllConnections(), graceMs);
            force.unref();
            server.close(() => {
              clearTimeout(force);
              done();
            });
            // Idle keep-alive sockets would otherwise hold close() open until they time out.
            server.closeIdleConnections();
          }),
      });
    });
  });
}
