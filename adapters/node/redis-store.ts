// The Redis TCP store for Node, over ioredis: one connection, pipelining per batch, capped reconnect
// backoff, and a hard deadline per batch. The Node adapter injects it (createStore's `redis` option).
import { Redis, type RedisOptions } from 'ioredis';
import { StoreError } from '../../src/errors.ts';
import { type Reply, runCalls, type ScriptCache, toRedisCalls, withDeadline } from '../../src/store/redis-protocol.ts';
import type { StoreConfig } from '../../src/store/schema.ts';
import type { Command, ResultOf, Store } from '../../src/store/store.ts';

export interface RedisConnectionOptions {
  /** `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. Wins over the fields below. */
  url?: string;
  host?: string;
  port?: number;
  /** The password (the original gateway's `auth`). */
  auth?: string;
  db?: number;
  tls?: boolean;
  /** Per-command bound; also how long a request waits for a connection attempt in progress. */
  timeoutMs: number;
  /** Upper bound of the reconnect backoff (50 ms doubling, plus jitter). Default 1000. */
  maxReconnectDelayMs?: number;
  /** Connection errors, for logging. They never throw; requests see them as StoreError. */
  onError?: (error: Error) => void;
}

export interface RedisConnection {
  readonly client: Redis;
  /**
   * Resolves when the connection can take commands. Waits while a connection attempt is in progress
   * (until `signal` aborts); fails at once with StoreError('unavailable') while Redis is known to be down,
   * so a dead Redis costs a request nothing but the error.
   */
  ready(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** A configured ioredis client, shared by the store and the REST bridge. */
export function connectRedis(options: RedisConnectionOptions): RedisConnection {
  if (!(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
    throw new TypeError('redis store: timeoutMs must be a positive number of milliseconds');
  }
  const cap = options.maxReconnectDelayMs ?? 1_000;
  const settings: RedisOptions = {
    // Fail fast instead of queueing while disconnected: a queue would hold requests and replay stale writes.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(options.timeoutMs, 2_000),
    retryStrategy: (times) => Math.min(cap, 50 * 2 ** Math.min(times - 1, 10)) + Math.floor(Math.random() * 50),
    // After a fail-over the old primary answers READONLY: reconnect to find the new one.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
    // RESP2 everywhere: the replies scripts and the REST bridge expect, on any Redis version.
    protocol: 2,
    enableAutoPipelining: false,
  };
  if (options.url === undefined) {
    settings.host = options.host ?? '127.0.0.1';
    settings.port = options.port ?? 6379;
    if (options.auth !== undefined && options.auth !== '') settings.password = options.auth;
    if (options.db !== undefined) settings.db = options.db;
    if (options.tls) settings.tls = { servername: settings.host };
  } else {
    const url = new URL(options.url);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new TypeError(`redis store: url must start with redis:// or rediss://, got ${url.protocol}`);
    }
    if (options.db !== undefined && (url.pathname === '' || url.pathname === '/')) settings.db = options.db;
  }
  const client = options.url === undefined ? new Redis(settings) : new Redis(options.url, settings);
  let lastError: Error | undefined;
  // Without a listener an 'error' event would crash the process.
  client.on('error', (err: Error) => {
    lastError = err;
    options.onError?.(err);
  });
  client.on('ready', () => {
    lastError = undefined;
  });

  function down(): StoreError {
    const why = lastError ? `: ${describe(lastError)}` : '';
    return new StoreError('unavailable', `redis: not connected (${client.status})${why}`, { cause: lastError });
  }

  return {
    client,
    ready(signal) {
      const status = client.status;
      if (status === 'ready') return Promise.resolve();
      if (status !== 'wait' && status !== 'connecting' && status !== 'connect') return Promise.reject(down());
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const done = (fn: () => void) => () => {
          client.off('ready', onReady);
          client.off('close', onClose);
          signal.removeEventListener('abort', onAbort);
          fn();
        };
        const onReady = done(resolve);
        const onClose = done(() => reject(down()));
        const onAbort = done(() => reject(signal.reason));
        client.once('ready', onReady);
        client.once('close', onClose);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    async close() {
      if (client.status === 'ready') {
        const quit = client.quit().catch(() => undefined);
        const grace = new Promise((r) => setTimeout(r, 500).unref());
        await Promise.race([quit, grace]);
      }
      client.disconnect();
    },
  };
}

/** Sends one batch of commands as one pipeline; Redis errors come back per command. */
async function pipeline(client: Redis, argvs: readonly (readonly (string | number)[])[]): Promise<Reply[]> {
  const p = client.pipeline();
  for (const [name, ...args] of argvs) p.call(String(name), ...args);
  const out = await p.exec();
  if (out === null) throw new StoreError('error', 'redis: pipeline was discarded');
  return out.map(([err, value]) => {
    if (err === null) return { ok: true, value };
    if (err.name === 'ReplyError') return { ok: false, message: err.message };
    throw classify(err);
  });
}

function classify(err: Error): StoreError {
  if (err instanceof StoreError) return err;
  if (/timed out/i.test(err.message)) return new StoreError('timeout', `redis: ${err.message}`, { cause: err });
  return new StoreError('unavailable', `redis: ${describe(err)}`, { cause: err });
}

function describe(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

export type RedisStoreOptions = RedisConnectionOptions;

export function redisStore(options: RedisStoreOptions): Store {
  const connection = connectRedis(options);
  const { client } = connection;
  const loaded: ScriptCache = new Set();
  let closed = false;
  return {
    kind: 'redis',
    async batch<const C extends readonly Command[]>(commands: C): Promise<ResultOf<C>> {
      if (closed) throw new StoreError('unavailable', 'redis: store is closed');
      if (commands.length === 0) return [] as unknown as ResultOf<C>;
      const calls = await toRedisCalls(commands, loaded);
      const results = await withDeadline('redis', options.timeoutMs, async (signal) => {
        await connection.ready(signal);
        return runCalls('redis', calls, loaded, (argvs) => pipeline(client, argvs).catch((err) => Promise.reject(classify(err))));
      });
      return results as unknown as ResultOf<C>;
    },
    async close() {
      closed = true;
      await connection.close();
    },
  };
}

/** The factory for createStore's `redis` option: the config's fields, as validated by storeSchema. */
export function redisStoreFromConfig(config: Extract<StoreConfig, { type: 'redis' }>): Store {
  return redisStore({
    url: config.url,
    host: config.host,
    port: config.port,
    auth: config.auth,
    db: config.db,
    tls: config.tls,
    timeoutMs: config.timeout,
  });
}
