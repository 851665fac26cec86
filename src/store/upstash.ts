// The Upstash store: Redis over Upstash's REST API through @upstash/redis. Web APIs only, so it runs on
// Workers, Deno and Node, and against any server speaking that protocol (adapters/node/redis-rest.ts).
import { Redis, type Requester, type UpstashRequest, type UpstashResponse } from '@upstash/redis';
import { StoreError } from '../errors.ts';
import { type Reply, runCalls, type ScriptCache, toRedisCalls, withDeadline } from './redis-protocol.ts';
import type { Command, ResultOf, Store } from './store.ts';

export interface UpstashStoreOptions {
  /** The REST URL, e.g. `https://eu1-xxx.upstash.io` (UPSTASH_REDIS_REST_URL). */
  url: string;
  /** The REST token (UPSTASH_REDIS_REST_TOKEN). Never logged, never in an error message. */
  token: string;
  /** Bound on one batch, NOSCRIPT fallback included; past it the batch fails with StoreError('timeout'). */
  timeoutMs: number;
  /** Injectable for tests and service bindings; defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

type Pipeline = ReturnType<Redis['pipeline']>;

/**
 * @upstash/redis with our own Requester (a documented constructor form). Its built-in HTTP client
 * cannot take a custom fetch, hides the HTTP status (which we need to tell a bad token from an outage),
 * puts the command body — keys, session values — into its error messages, and passes `cache` and
 * `keepalive` init fields that some runtimes reject. Replies stay raw strings: no JSON deserialization.
 */
class RestClient extends Redis {
  constructor() {
    super({ request: () => Promise.reject(new Error('use pipelineVia')) });
    this.opts = { automaticDeserialization: false };
  }

  /** A pipeline whose one request goes through `requester`, which carries this batch's AbortSignal. */
  pipelineVia(requester: Requester): Pipeline {
    const saved = this.client;
    this.client = requester;
    try {
      return this.pipeline();
    } finally {
      this.client = saved;
    }
  }
}

export function upstashStore(options: UpstashStoreOptions): Store {
  const { url: base, token, timeoutMs } = validate(options);
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const client = new RestClient();
  // Read-your-writes across Upstash replicas: echo the newest sync token the service gave us.
  let syncToken = '';
  let closed = false;
  const loaded: ScriptCache = new Set();

  async function post(req: UpstashRequest, signal: AbortSignal): Promise<unknown> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      // Bulk strings come back base64-encoded, so no reply byte is lost to JSON (docs: "Base64 Encoded Responses").
      'upstash-encoding': 'base64',
    };
    if (syncToken !== '') headers['upstash-sync-token'] = syncToken;
    const url = req.path && req.path.length > 0 ? `${base}/${req.path.join('/')}` : base;
    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, { method: 'POST', headers, body: JSON.stringify(req.body), signal });
      text = await res.text();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new StoreError('unavailable', `upstash: request failed: ${describeNetworkError(err)}`, { cause: err });
    }
    syncToken = res.headers.get('upstash-sync-token') ?? syncToken;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) throw httpError(res.status, body);
    if (body === undefined) throw new StoreError('error', `upstash: HTTP ${res.status} with a body that is not JSON`);
    return body;
  }

  async function send(argvs: readonly (readonly (string | number)[])[], signal: AbortSignal): Promise<Reply[]> {
    const requester: Requester = {
      request: async <T>(req: UpstashRequest) => decodeBody(await post(req, signal), req.path?.[0] === 'pipeline') as UpstashResponse<T>,
    };
    const pipeline = client.pipelineVia(requester);
    for (const argv of argvs) push(pipeline, argv);
    const out = (await pipeline.exec({ keepErrors: true })) as { error?: string; result?: unknown }[];
    if (!Array.isArray(out) || out.length !== argvs.length) {
      throw new StoreError('error', `upstash: expected ${argvs.length} replies, got ${Array.isArray(out) ? out.length : typeof out}`);
    }
    return out.map((r) => (typeof r.error === 'string' ? { ok: false, message: r.error } : { ok: true, value: r.result ?? null }));
  }

  return {
    kind: 'upstash',
    async batch<const C extends readonly Command[]>(commands: C): Promise<ResultOf<C>> {
      if (closed) throw new StoreError('unavailable', 'upstash: store is closed');
      if (commands.length === 0) return [] as unknown as ResultOf<C>;
      const calls = await toRedisCalls(commands, loaded);
      const results = await withDeadline('upstash', timeoutMs, (signal) =>
        runCalls('upstash', calls, loaded, (argvs) => send(argvs, signal)),
      );
      return results as unknown as ResultOf<C>;
    },
    async close() {
      closed = true;
    },
  };
}

function validate(options: UpstashStoreOptions): { url: string; token: string; timeoutMs: number } {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new TypeError('upstash store: url must be an absolute http(s) URL, e.g. https://eu1-xxx.upstash.io');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`upstash store: url must use https (or http for a local bridge), got ${url.protocol}`);
  }
  // It travels in a header: visible ASCII only.
  if (typeof options.token !== 'string' || !/^[\x21-\x7e]+$/.test(options.token)) {
    throw new TypeError('upstash store: token must be a non-empty string of visible ASCII characters');
  }
  if (!(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
    throw new TypeError('upstash store: timeoutMs must be a positive number of milliseconds');
  }
  return { url: url.href.replace(/\/+$/, ''), token: options.token, timeoutMs: options.timeoutMs };
}

/** Puts one Redis command (from redis-protocol.ts) into the pipeline through the client's own builders. */
function push(p: Pipeline, argv: readonly (string | number)[]): void {
  const [name, ...a] = argv;
  const s = (i: number) => String(a[i]);
  const n = (i: number) => Number(a[i]);
  switch (name) {
    case 'get':
      p.get(s(0));
      return;
    case 'set': {
      const px = a.indexOf('px');
      const nx = a.includes('nx');
      if (px > 0) p.set(s(0), s(1), nx ? { px: n(px + 1), nx: true } : { px: n(px + 1) });
      else p.set(s(0), s(1), nx ? { nx: true } : undefined);
      return;
    }
    case 'del':
      p.del(s(0));
      return;
    case 'exists':
      p.exists(s(0));
      return;
    case 'pexpire':
      p.pexpire(s(0), n(1));
      return;
    case 'pttl':
      p.pttl(s(0));
      return;
    case 'incrby':
      p.incrby(s(0), n(1));
      return;
    case 'evalsha':
    case 'eval': {
      const count = n(1);
      const keys = a.slice(2, 2 + count).map(String);
      const args = a.slice(2 + count).map(String);
      if (name === 'evalsha') p.evalsha(s(0), keys, args);
      else p.eval(s(0), keys, args);
      return;
    }
    default:
      throw new Error(`upstash store: no pipeline builder for ${String(name)}`);
  }
}

/** Undoes `Upstash-Encoding: base64` in `{result}` or `[{result}|{error}, …]`. */
function decodeBody(body: unknown, pipeline: boolean): unknown {
  if (Array.isArray(body)) return body.map(decodeEntry);
  if (pipeline) throw new StoreError('error', 'upstash: malformed pipeline reply (not an array)');
  return decodeEntry(body);
}

function decodeEntry(entry: unknown): UpstashResponse<unknown> {
  if (entry === null || typeof entry !== 'object') throw new StoreError('error', 'upstash: malformed reply');
  const { result, error } = entry as UpstashResponse<unknown>;
  return typeof error === 'string' ? { error } : { result: decodeValue(result) };
}

const utf8 = new TextDecoder();

function decodeValue(value: unknown): unknown {
  if (typeof value === 'string') {
    // The one string the service leaves unencoded (docs: "all strings … except for the OK response").
    if (value === 'OK') return value;
    const binary = atob(value);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return utf8.decode(bytes);
  }
  if (Array.isArray(value)) return value.map(decodeValue);
  return value ?? null;
}

function httpError(status: number, body: unknown): StoreError {
  const detail =
    body !== null && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string'
      ? `: ${(body as { error: string }).error.slice(0, 200)}`
      : '';
  if (status === 401 || status === 403) {
    return new StoreError('error', `upstash: HTTP ${status}, the REST token was rejected${detail}`);
  }
  if (status === 429 || status >= 500) return new StoreError('unavailable', `upstash: HTTP ${status}${detail}`);
  return new StoreError('error', `upstash: HTTP ${status}${detail}`);
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? `${err.message} (${code})` : err.message;
}
