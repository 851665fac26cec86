// Serves a gateway on Node with @hono/node-server, with graceful shutdown.
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server } from 'node:http';
import { type HttpBindings, createAdaptorServer } from '@hono/node-server';
import type { Gateway } from '../../src/gateway.ts';

export interface NodeServer {
  server: Server;
  port: number;
  url: string;
  /** Stops accepting, lets in-flight requests finish within `graceMs`, then closes the rest. */
  close(graceMs?: number): Promise<void>;
}

/** The socket's peer address, for `deps.clientIp`. */
export function nodeClientIp(_request: Request, env: unknown): string | undefined {
  const incoming = (env as HttpBindings | undefined)?.incoming as IncomingMessage | undefined;
  const addr = incoming?.socket?.remoteAddress;
  return addr?.startsWith('::ffff:') ? addr.slice(7) : addr;
}

export function serveNode(gateway: Gateway, options: { port?: number; hostname?: string } = {}): Promise<NodeServer> {
  const server = createAdaptorServer({
    fetch: (request, env) => gateway.fetch(request, env),
    hostname: options.hostname,
    serverOptions: { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 },
  }) as Server;
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
