// The Node upstream client: a fetch-shaped function over undici's pooled keep-alive Agent.
// Node's global fetch would also pool connections, but it decodes gzip behind the proxy's back
// (leaving Content-Encoding in place) and costs several times more CPU per request.
import { Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';

export interface UpstreamFetchOptions {
  /** Idle keep-alive sockets are closed after this long. */
  keepAliveTimeoutMs?: number;
  /** Upper bound of sockets per target. */
  connections?: number;
}

/**
 * A reply that has fully arrived by the time its headers are parsed (most small JSON replies, even
 * chunked ones) is passed on whole, as nginx's proxy_buffering does: one write to the client instead
 * of headers, chunk and terminator as three. Anything still in flight streams, with backpressure.
 */
const BUFFER_UP_TO = 64 * 1024;

/** A whole reply's bytes, cancellable like a stream body (the proxy cancels a reply it drops). */
class ReplyBytes extends Uint8Array {
  cancel(): Promise<void> {
    return Promise.resolve();
  }
}

function concat(chunks: Buffer[], size: number): ReplyBytes {
  const one = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
  return new ReplyBytes(one.buffer as ArrayBuffer, one.byteOffset, one.byteLength);
}

type ReplyBody = ReplyBytes | ReadableStream<Uint8Array> | null;

/**
 * The Response handed to the gateway. Under @hono/node-server the global Response is a lazy one that
 * builds a full WHATWG Response the first time `body` or `statusText` is read (about 10 µs), and the
 * gateway reads both of every reply it passes on; a subclass's getters answer them instead (cheaper
 * than defining own properties on each reply). `text()`, `json()` and the rest still work (they build
 * the full Response, once). The class extends whatever the global Response is when a reply is made:
 * the server installs its lazy one when it starts, after this module is loaded.
 */
type ReplyClass = new (status: number, headers: Headers, body: ReplyBody) => Response;
let replyBase: typeof Response | undefined;
let replyClassCache: ReplyClass | undefined;
function replyClass(): ReplyClass {
  if (replyClassCache !== undefined && replyBase === globalThis.Response) return replyClassCache;
  const base = globalThis.Response;
  class UpstreamReply extends base {
    // The bytes as given (a ReplyBytes is not a stream; the gateway hands it on as a body).
    readonly #raw: Response['body'];
    constructor(status: number, headers: Headers, body: ReplyBody) {
      super(body, { status, headers });
      this.#raw = body as Response['body'];
    }
    override get body(): Response['body'] {
      return this.#raw;
    }
    // Upstream reason phrases are not passed on.
    override get statusText(): string {
      return '';
    }
  }
  replyBase = base;
  replyClassCache = UpstreamReply;
  return UpstreamReply;
}

function reply(status: number, headers: Headers, body: ReplyBody): Response {
  return new (replyClass())(status, headers, body);
}

function headersFrom(raw: Buffer[]): Headers {
  const out = new Headers();
  for (let i = 0; i < raw.length; i += 2) out.append(raw[i].toString('latin1'), raw[i + 1].toString('latin1'));
  return out;
}

function flatHeaders(init: HeadersInit | undefined): string[] {
  const flat: string[] = [];
  if (init === undefined) return flat;
  if (Array.isArray(init)) {
    // Pairs, as the gateway builds them: no Headers object to fill and read back.
    for (const [name, value] of init) flat.push(name, value);
    return flat;
  }
  const h = init instanceof Headers ? init : new Headers(init);
  h.forEach((value, name) => {
    flat.push(name, value);
  });
  return flat;
}

/** Runs after the microtasks queued with it: a reply not yet whole by then is handed over as a stream. */
function streamIfPending(exchange: Exchange): void {
  if (!exchange.settled) exchange.toStream();
}

/**
 * One request through undici's dispatcher. The response settles as soon as it is known whether the
 * reply is whole: llhttp parses a socket read in one go, so when the body came with the headers,
 * onComplete runs before the microtask queued in onHeaders; otherwise that microtask hands over a stream.
 * A class rather than a dozen closures per request: its methods are shared, and the exchange itself
 * is the abort listener (handleEvent).
 */
class Exchange implements Dispatcher.DispatchHandler {
  abort: ((reason?: Error) => void) | undefined;
  resume: (() => void) | undefined;
  status = 0;
  headers: Headers | undefined;
  chunks: Buffer[] = [];
  size = 0;
  settled = false;
  stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  finished = false;
  cancelled = false;
  aborted: Error | undefined;

  constructor(
    readonly resolve: (response: Response) => void,
    readonly reject: (reason: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {}

  /** The signal's abort; one before the request has a socket is remembered and applied in onConnect. */
  handleEvent(): void {
    const signal = this.signal as AbortSignal;
    this.aborted = signal.reason instanceof Error ? signal.reason : new Error('aborted');
    this.abort?.(this.aborted);
    if (!this.settled) {
      this.settled = true;
      this.reject(signal.reason);
    }
  }

  done(): void {
    this.finished = true;
    this.signal?.removeEventListener('abort', this);
  }

  toStream(): void {
    this.settled = true;
    const head = this.chunks;
    this.chunks = [];
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          for (const c of head) controller.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
          this.stream = controller;
          if (this.finished) controller.close();
        },
        pull: () => {
          this.resume?.();
        },
        cancel: (reason) => {
          this.cancelled = true;
          if (!this.finished) this.abort?.(reason instanceof Error ? reason : new Error('upstream body cancelled'));
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: BUFFER_UP_TO }),
    );
    this.resolve(reply(this.status, this.headers as Headers, body));
  }

  onConnect(abortRequest: (reason?: Error) => void): void {
    this.abort = abortRequest;
    if (this.aborted !== undefined) abortRequest(this.aborted);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[] | null, resumeReading: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: the final response follows
    this.status = statusCode;
    this.headers = headersFrom(rawHeaders as Buffer[]);
    this.resume = resumeReading;
    // A microtask, as queueMicrotask would queue it, without a closure.
    Promise.resolve(this).then(streamIfPending);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.cancelled) return true;
    if (this.stream !== undefined) {
      this.stream.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      return (this.stream.desiredSize ?? 1) > 0;
    }
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
    if (!this.settled && this.size > BUFFER_UP_TO) this.toStream();
    return true;
  }

  onComplete(): void {
    this.done();
    if (this.stream !== undefined) {
      if (!this.cancelled) this.stream.close();
    } else if (!this.settled) {
      this.settled = true;
      this.resolve(reply(this.status, this.headers as Headers, this.size === 0 ? null : concat(this.chunks, this.size)));
    }
  }

  onError(err: Error): void {
    this.done();
    if (!this.settled) {
      this.settled = true;
      this.reject(this.signal?.aborted ? this.signal.reason : err);
    } else if (!this.cancelled) this.stream?.error(err);
  }
}

function send(agent: Agent, options: Dispatcher.DispatchOptions, signal: AbortSignal | undefined): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const exchange = new Exchange(resolve, reject, signal);
    signal?.addEventListener('abort', exchange, { once: true });
    agent.dispatch(options, exchange);
  });
}

export function upstreamFetch(options: UpstreamFetchOptions = {}): typeof fetch & { close(): Promise<void> } {
  const agent = new Agent({
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    connections: options.connections ?? 256,
    // The gateway applies its own per-upstream timeout through the AbortSignal.
    headersTimeout: 0,
    bodyTimeout: 0,
  });

  async function nodeFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    let body: Readable | Uint8Array | string | undefined;
    const b = init.body;
    if (b instanceof ReadableStream) body = Readable.fromWeb(b as never);
    else if (b instanceof Uint8Array || typeof b === 'string') body = b;
    else if (b instanceof ArrayBuffer) body = new Uint8Array(b);
    else if (b != null) throw new TypeError('unsupported upstream body type');
    const method = (init.method ?? 'GET') as Dispatcher.HttpMethod;
    return send(
      agent,
      { origin: url.origin, path: url.pathname + url.search, method, headers: flatHeaders(init.headers), body },
      init.signal ?? undefined,
    );
  }

  return Object.assign(nodeFetch as typeof fetch, { close: () => agent.close() });
}
