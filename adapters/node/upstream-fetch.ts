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
    return new Response(Readable.toWeb(res.body) as ReadableStream, { status: res.statusCode, headers: out });
  }

  return Object.assign(nodeFetch as typeof fetch, { close: () => agent.close() });
}
