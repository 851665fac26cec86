// Builds the configured store: memory or Upstash here; Redis over TCP comes from the Node adapter,
// because src/ cannot open sockets (see adapters/node/redis-store.ts, redisStoreFromConfig).
import { ConfigError } from '../config/load.ts';
import { memoryStore } from './memory.ts';
import type { StoreConfig } from './schema.ts';
import type { Store } from './store.ts';
import { upstashStore } from './upstash.ts';

export type RedisStoreConfig = Extract<StoreConfig, { type: 'redis' }>;

export interface CreateStoreOptions {
  /** Builds the TCP Redis store; only the Node adapter can supply it. */
  redis?: (config: RedisStoreConfig) => Store;
  /** The fetch the Upstash store uses; defaults to the global one. */
  fetch?: typeof fetch;
  /** The memory store's clock. */
  now?: () => number;
}

/**
 * @param env the runtime's variables (Node's environment, Worker bindings, Deno.env.toObject()); read for
 *   UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN when the config leaves them out.
 * @throws ConfigError when a required setting is missing; never echoes the token.
 */
export function createStore(config: StoreConfig, env: Record<string, string | undefined>, options: CreateStoreOptions = {}): Store {
  switch (config.type) {
    case 'memory':
      return memoryStore({ maxEntries: config.maxEntries, now: options.now });
    case 'upstash': {
      const url = config.url ?? nonEmpty(env.UPSTASH_REDIS_REST_URL);
      const token = config.token ?? nonEmpty(env.UPSTASH_REDIS_REST_TOKEN);
      const problems: string[] = [];
      if (url === undefined) problems.push('store.url: expected the Upstash REST URL here or in UPSTASH_REDIS_REST_URL (missing)');
      if (token === undefined) problems.push('store.token: expected the Upstash REST token here or in UPSTASH_REDIS_REST_TOKEN (missing)');
      if (url === undefined || token === undefined) throw new ConfigError(problems);
      try {
        return upstashStore({ url, token, timeoutMs: config.timeout, fetch: options.fetch });
      } catch (err) {
        throw new ConfigError([`store: ${err instanceof Error ? err.message : String(err)}`]);
      }
    }
    case 'redis':
      if (options.redis === undefined) {
        throw new ConfigError([
          'store.type: "redis" (TCP) needs the Node adapter, which opens the socket; on Workers and Deno use "upstash", or run `edgegate redis-rest` in front of your Redis and point "upstash" at it',
        ]);
      }
      try {
        return options.redis(config);
      } catch (err) {
        // The client refused a setting the schema let through: a config problem, not a crash.
        throw new ConfigError([`store: ${err instanceof Error ? err.message : String(err)}`]);
      }
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
