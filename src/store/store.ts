// The store interface: every piece of shared state (rate limits, sessions) goes through it.
// Implementations: memory.ts (embedded default), upstash.ts (REST, every runtime) and the Redis TCP
// store that the Node adapter injects (adapters/node/redis-store.ts).

/**
 * A Lua script for Redis together with its TypeScript twin, which the memory store runs.
 * Both must give the same result for the same keys, args and clock (the contract suite checks it).
 */
export interface Script<T = unknown> {
  /** A stable name, for logs and errors. */
  readonly name: string;
  /** The Lua source; KEYS and ARGV named at its top. */
  readonly lua: string;
  /** SHA-1 of `lua`, hex; computed once by `defineScript`. */
  readonly sha1: Promise<string>;
  /**
   * The memory twin. It runs synchronously against the memory store's data, so it is atomic.
   * `nowMs` is the store's clock (Redis scripts read `TIME` instead).
   */
  readonly local: (data: LocalData, keys: string[], args: string[], nowMs: number) => T;
}

/** What a script's memory twin may do: the small slice of Redis it needs. */
export interface LocalData {
  get(key: string): string | null;
  /** `ttlMs` undefined keeps no expiry; 0 or less deletes. */
  set(key: string, value: string, ttlMs?: number): void;
  del(key: string): void;
  /** Remaining time to live in ms, -1 without expiry, -2 when missing (like PTTL). */
  pttl(key: string): number;
}

/** One command of a batch. Results come back in order, one per command. */
export type Command =
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; value: string; ttlMs?: number; nx?: boolean }
  | { op: 'del'; key: string }
  | { op: 'pexpire'; key: string; ttlMs: number }
  | { op: 'pttl'; key: string }
  | { op: 'incrby'; key: string; by: number; ttlMs?: number }
  | { op: 'eval'; script: Script; keys: string[]; args: string[] };

/** The result type of each command, by op. */
export interface CommandResult {
  get: string | null;
  /** true when written (false when `nx` and the key existed). */
  set: boolean;
  /** number of keys removed (0 or 1). */
  del: number;
  /** true when the key existed and now has the new TTL. */
  pexpire: boolean;
  pttl: number;
  incrby: number;
  eval: unknown;
}

export type ResultOf<C extends readonly Command[]> = { [I in keyof C]: CommandResult[C[I]['op']] };

export interface Store {
  /** Which backend this is, for logs and the benchmark. */
  readonly kind: 'memory' | 'redis' | 'upstash';
  /**
   * Runs every command in ONE round trip and returns their results in order.
   * Not a transaction, except that each `eval` is atomic.
   * Throws `StoreError` when the backend fails or exceeds its timeout; never hangs.
   */
  batch<const C extends readonly Command[]>(commands: C): Promise<ResultOf<C>>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/** Convenience wrappers for single commands, on top of `batch`. */
export async function get(store: Store, key: string): Promise<string | null> {
  const [value] = await store.batch([{ op: 'get', key }] as const);
  return value;
}

export async function set(store: Store, key: string, value: string, ttlMs?: number): Promise<boolean> {
  const [ok] = await store.batch([{ op: 'set', key, value, ttlMs }] as const);
  return ok;
}

export async function del(store: Store, key: string): Promise<number> {
  const [n] = await store.batch([{ op: 'del', key }] as const);
  return n;
}

export async function runScript<T>(store: Store, script: Script<T>, keys: string[], args: string[]): Promise<T> {
  const [result] = await store.batch([{ op: 'eval', script, keys, args }] as const);
  return result as T;
}

/** Defines a script once, at module load; its SHA-1 is computed with Web Crypto. */
export function defineScript<T>(name: string, lua: string, local: Script<T>['local']): Script<T> {
  let sha1: Promise<string> | undefined;
  return {
    name,
    lua,
    get sha1() {
      sha1 ??= crypto.subtle
        .digest('SHA-1', new TextEncoder().encode(lua))
        .then((buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join(''));
      return sha1;
    },
    local,
  };
}
