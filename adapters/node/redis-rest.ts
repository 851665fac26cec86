// The Redis REST bridge: a small HTTP server speaking the Upstash REST protocol over your own Redis,
// so the Upstash store (Workers, Deno, Node) and @upstash/redis can use it. Protocol as documented in
// https://upstash.com/docs/redis/features/restapi: a command as a JSON array at POST /, a list of them at
// POST /pipeline and POST /multi-exec, the path form /<command>/<arg>…, Bearer or `_token` auth,
// `Upstash-Encoding: base64`, `{ "result" }` / `{ "error" }` bodies, 400 for command errors, 401 for auth.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StoreError } from '../../src/errors.ts';
import { connectRedis } from './redis-store.ts';

export interface RedisRestOptions {
  /** The Redis behind the bridge: `redis://[:password@]host:port[/db]` or `rediss://`. */
  redis: string;
  /** The bearer token clients must present. */
  token: string;
  /** Default 0: an ephemeral port (the CLI passes 8079). */
  port?: number;
  /** Default 127.0.0.1; pass 0.0.0.0 to listen on every interface. */
  host?: string;
  /** Bound on one Redis round trip. Default 5000 ms. */
  timeoutMs?: number;
  /** Largest request body accepted. Default 16 MiB. */
  maxBodyBytes?: number;
}

export interface RedisRest {
  /** `http://host:port`, what UPSTASH_REDIS_REST_URL should be set to. */
  readonly url: string;
  close(): Promise<void>;
}

type Arg = string | Buffer;
type HttpReply = { status: number; body: unknown };

/** Commands that would block or re-state the one shared connection, or stop the server. */
const DENIED = new Set([
  'auth',
  'hello',
  'select',
  'quit',
  'reset',
  'client',
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'monitor',
  'blpop',
  'brpop',
  'brpoplpush',
  'blmove',
  'blmpop',
  'bzpopmin',
  'bzpopmax',
  'bzmpop',
  'wait',
  'waitaof',
  'sync',
  'psync',
  'replconf',
  'shutdown',
  'debug',
]);

const sha256 = (value: string | Buffer) => createHash('sha256').update(value).digest();

export async function startRedisRest(options: RedisRestOptions): Promise<RedisRest> {
  if (typeof options.token !== 'string' || options.token === '') throw new TypeError('redis-rest: token must be a non-empty string');
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const expected = sha256(options.token);
  const connection = connectRedis({ url: options.redis, timeoutMs });
  const { client } = connection;

  /** Constant time: both sides hashed to 32 bytes first, so neither length nor content leaks. */
  function authorized(req: IncomingMessage, url: URL): boolean {
    const header = req.headers.authorization;
    let presented: string | undefined;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      presented = m?.[1];
    } else {
      presented = url.searchParams.get('_token') ?? undefined;
    }
    return presented !== undefined && timingSafeEqual(sha256(presented), expected);
  }

  async function withConnection<T>(work: () => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new StoreError('timeout', `redis: no connection within ${timeoutMs} ms`)), timeoutMs);
    try {
      await connection.ready(controller.signal);
    } finally {
      clearTimeout(timer);
    }
    return work();
  }

  async function one(argv: Arg[], base64: boolean): Promise<HttpReply> {
    const [name, ...args] = argv;
    try {
      const value = await withConnection(() => client.callBuffer(verb(name), ...args));
      return { status: 200, body: { result: encode(value, base64) } };
    } catch (err) {
      return failure(err);
    }
  }

  async function many(argvs: Arg[][], base64: boolean, atomic: boolean): Promise<HttpReply> {
    try {
      const out = await withConnection(() => {
        const p = atomic ? client.multi() : client.pipeline();
        for (const [name, ...args] of argvs) p.callBuffer(verb(name), ...args);
        return p.exec();
      });
      if (out === null) return { status: 400, body: { error: 'EXECABORT Transaction discarded' } };
      const body = [];
      for (const [err, value] of out) {
        if (err === null) body.push({ result: encode(value, base64) });
        else if (err.name === 'ReplyError') body.push({ error: err.message });
        else return failure(err);
      }
      return { status: 200, body };
    } catch (err) {
      return failure(err);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const method = req.method ?? 'GET';
    if (!['GET', 'HEAD', 'POST', 'PUT'].includes(method)) {
      res.setHeader('allow', 'HEAD, GET, POST, PUT');
      return reply(405, { error: 'Method not allowed' });
    }
    const url = new URL(req.url ?? '/', 'http://bridge');
    if (!authorized(req, url)) {
      req.resume();
      return reply(401, { error: 'Unauthorized' });
    }
    const format = req.headers['upstash-response-format'];
    if (format !== undefined && String(format).toLowerCase() !== 'json') {
      req.resume();
      return reply(400, { error: 'ERR this bridge answers in JSON only (Upstash-Response-Format: json)' });
    }
    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) return reply(413, { error: `ERR request body larger than ${maxBodyBytes} bytes` });

    const path = url.pathname.replace(/\/+$/, '');
    const hasBody = method === 'POST' || method === 'PUT';
    let result: HttpReply;
    if (path === '' && hasBody) {
      const argv = parseCommand(parseJson(body));
      result = typeof argv === 'string' ? { status: 400, body: { error: argv } } : await one(argv, base64);
    } else if ((path === '/pipeline' || path === '/multi-exec') && hasBody) {
      const argvs = parseBatch(parseJson(body));
      result = typeof argvs === 'string' ? { status: 400, body: { error: argvs } } : await many(argvs, base64, path === '/multi-exec');
    } else {
      // Path form: /set/foo/bar?EX=100, a POST body appended as the last argument (the binary-safe way in).
      const argv: Arg[] = path
        .split('/')
        .slice(1)
        .map((s) => decodeURIComponent(s));
      if (hasBody && body.length > 0) argv.push(body);
      for (const [k, v] of url.searchParams) if (k !== '_token') argv.push(k, v);
      const checked = parseCommand(argv);
      result = typeof checked === 'string' ? { status: 400, body: { error: checked } } : await one(checked, base64);
    }
    reply(result.status, result.body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `ERR bridge failure: ${err instanceof Error ? err.message : String(err)}` }));
      } else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await connection.close();
    },
  };
}

/**
 * Upper case on purpose: ioredis reshapes some replies by lower-case command name (HGETALL into an
 * object); the bridge must pass Redis's reply through untouched. Its remaining case-insensitive
 * transformers are identities under RESP2.
 */
function verb(name: Arg): string {
  return String(name).toUpperCase();
}

function failure(err: unknown): HttpReply {
  if (err instanceof Error && err.name === 'ReplyError') return { status: 400, body: { error: err.message } };
  if (err instanceof StoreError) return { status: err.reason === 'error' ? 400 : 503, body: { error: err.message } };
  const message = err instanceof Error ? err.message : String(err);
  const timeout = /timed out/i.test(message);
  return { status: timeout ? 504 : 503, body: { error: `ERR redis ${timeout ? 'timeout' : 'unavailable'}: ${message}` } };
}

/** Redis reply → JSON: bulk strings as UTF-8 text, or base64 when asked (all but "OK", as Upstash does). */
function encode(value: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(value)) {
    if (base64 && !(value.length === 2 && value[0] === 0x4f && value[1] === 0x4b)) return value.toString('base64');
    return value.toString('utf8');
  }
  if (typeof value === 'string') return base64 && value !== 'OK' ? Buffer.from(value, 'utf8').toString('base64') : value;
  if (Array.isArray(value)) return value.map((v) => encode(v, base64));
  return value ?? null;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A command: a non-empty array of strings, numbers or booleans (and Buffers from the path form). */
function parseCommand(value: unknown): Arg[] | string {
  if (!Array.isArray(value) || value.length === 0) return 'ERR expected a command as a non-empty JSON array, e.g. ["SET","k","v"]';
  const argv: Arg[] = [];
  for (const item of value) {
    if (typeof item === 'string' || Buffer.isBuffer(item)) argv.push(item);
    else if ((typeof item === 'number' && Number.isFinite(item)) || typeof item === 'boolean') argv.push(String(item));
    else return `ERR command arguments must be strings or numbers, got ${item === null ? 'null' : typeof item}`;
  }
  const name = String(argv[0]).toLowerCase();
  if (name === '') return 'ERR no command given';
  if (DENIED.has(name)) return `ERR command is not allowed through the REST bridge: ${name}`;
  if ((name === 'xread' || name === 'xreadgroup') && argv.some((a) => String(a).toLowerCase() === 'block')) {
    return `ERR blocking ${name} is not allowed through the REST bridge`;
  }
  return argv;
}

function parseBatch(value: unknown): Arg[][] | string {
  if (!Array.isArray(value) || value.length === 0)
    return 'ERR expected a non-empty JSON array of commands, e.g. [["SET","k","v"],["GET","k"]]';
  const argvs: Arg[][] = [];
  for (const [i, item] of value.entries()) {
    const argv = parseCommand(item);
    if (typeof argv === 'string') return `${argv} (command ${i + 1})`;
    argvs.push(argv);
  }
  return argvs;
}

/** The whole body, or undefined when it exceeds `limit` (the rest is drained, not buffered). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
