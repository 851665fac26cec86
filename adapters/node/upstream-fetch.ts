// The Node upstream client: a fetch-shaped function over undici's pooled keep-alive Agent.
// Node's global fetch would also pool connections, but it decodes gzip behind the proxy's back
// (leaving Content-Encoding in place) and costs several times more CPU per request.
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';

export interface UpstreamFetchOptions {
  /** Idle keep-alive sockets are closed after this long. */
  keepAliveTimeoutMs?: number;
  /** Upper bound of sockets per target. */
  connections?: number;
}

const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * A reply that has fully arrived by the time its headers are parsed (most small JSON replies, even
 * chunked ones) is passed on whole, as nginx's proxy_buffering does: one write to the client instead
 * of headers, chunk and terminator as three. Anything still in flight streams, with backpressure.
 */
const BUFFER_UP_TO = 64 * 1024;
const PENDING: unique symbol = Symbol('pending');

type Chunks = AsyncIterator<Buffer>;

/** Reads what is already buffered without waiting; returns the whole body if it is all there. */
async function readAvailable(it: Chunks): Promise<{ chunks: Buffer[]; done: boolean; next?: Promise<IteratorResult<Buffer>> }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = it.next();
    // A resolved read settles within a couple of microtasks; a pending one loses this race.
    const r: IteratorResult<Buffer> | typeof PENDING = await Promise.race([next, Promise.resolve().then((): typeof PENDING => PENDING)]);
    if (r === PENDING) return { chunks, done: false, next };
    if (r.done) return { chunks, done: true };
    chunks.push(r.value);
    size += r.value.byteLength;
    if (size > BUFFER_UP_TO) return { chunks, done: false };
  }
}

/** A web stream over the rest of the body, starting with what was already read. */
function toWebStream(body: Readable, it: Chunks, head: Buffer[], pending?: Promise<IteratorResult<Buffer>>): ReadableStream<Uint8Array> {
  let queued = head;
  let next = pending;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (queued.length > 0) {
        for (const c of queued) controller.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
        queued = [];
        return;
      }
      const r = await (next ?? it.next());
      next = undefined;
      if (r.done) controller.close();
      else controller.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
    },
    cancel(reason) {
      body.destroy(reason instanceof Error ? reason : undefined);
    },
  });
}

function concat(chunks: Buffer[]): Uint8Array<ArrayBuffer> {
  return (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)) as Uint8Array<ArrayBuffer>;
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
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    let body: Readable | Uint8Array | string | undefined;
    const b = init.body;
    if (b instanceof ReadableStream) body = Readable.fromWeb(b as never);
    else if (b instanceof Uint8Array || typeof b === 'string') body = b;
    else if (b instanceof ArrayBuffer) body = new Uint8Array(b);
    else if (b != null) throw new TypeError('unsupported upstream body type');

    const res = await request(url, {
      dispatcher: agent,
      method: (init.method ?? 'GET') as never,
      headers,
      body,
      signal: init.signal ?? undefined,
    });
    const out = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (Array.isArray(value)) for (const v of value) out.append(name, v);
      else if (value !== undefined) out.set(name, value);
    }
    const method = init.method ?? 'GET';
    if (method === 'HEAD' || NO_BODY.has(res.statusCode)) {
      res.body.resume();
      return new Response(null, { status: res.statusCode, headers: out });
    }
    const it = res.body[Symbol.asyncIterator]() as Chunks;
    const first = await readAvailable(it);
    if (first.done) return new Response(first.chunks.length === 0 ? null : concat(first.chunks), { status: res.statusCode, headers: out });
    return new Response(toWebStream(res.body, it, first.chunks, first.next), { status: res.statusCode, headers: out });
  }

  return Object.assign(nodeFetch as typeof fetch, { close: () => agent.close() });
}
