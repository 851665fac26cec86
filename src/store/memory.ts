// The embedded store: a bounded Map with expiry, so edgegate runs with nothing else installed.
// Single-process only; instances that must agree share Redis instead.
import { StoreError } from '../errors.ts';
import type { Command, LocalData, ResultOf, Store } from './store.ts';

export interface MemoryStoreOptions {
  /** Upper bound on live keys; the oldest-written keys are evicted first when it is reached. */
  maxEntries?: number;
  /** The clock, injectable for tests. */
  now?: () => number;
}

interface Entry {
  value: string;
  /** Absolute expiry in ms since the epoch; Infinity for none. */
  expiresAt: number;
}

/** Redis's integer rule for INCRBY: optional minus, no leading zeros or spaces, at most 19 digits. */
function parseInteger(value: string): number {
  if (!/^(0|-?[1-9]\d{0,18})$/.test(value)) throw new Error('ERR value is not an integer or out of range');
  return Number(value);
}

/** How many entries one write may examine for expiry, so sweeping stays O(1) amortised. */
const SWEEP_STEP = 8;

export function memoryStore(options: MemoryStoreOptions = {}): Store & { readonly size: number } {
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  // Map keeps insertion order; re-inserting on write makes the first key the least recently written.
  const map = new Map<string, Entry>();
  let sweeper: Iterator<[string, Entry]> | undefined;
  // Eviction walks from the oldest write with one live iterator: a fresh map.keys() per eviction
  // would step over every slot already deleted, making each write at the cap O(deleted).
  let evictor: Iterator<string> | undefined;

  function live(key: string, t: number): Entry | undefined {
    const e = map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= t) {
      map.delete(key);
      return undefined;
    }
    return e;
  }

  /** Incremental sweep: each write checks a few entries in turn and drops the expired ones. */
  function sweep(t: number): void {
    for (let i = 0; i < SWEEP_STEP; i++) {
      sweeper ??= map.entries();
      const next = sweeper.next();
      if (next.done) {
        sweeper = undefined;
        return;
      }
      const [k, e] = next.value;
      if (e.expiresAt <= t) map.delete(k);
    }
  }

  function write(key: string, value: string, expiresAt: number, t: number): void {
    map.delete(key);
    map.set(key, { value, expiresAt });
    sweep(t);
    while (map.size > maxEntries) {
      evictor ??= map.keys();
      let next = evictor.next();
      if (next.done) {
        evictor = map.keys();
        next = evictor.next();
      }
      map.delete(next.value as string);
    }
  }

  function data(t: number): LocalData {
    return {
      get: (key) => live(key, t)?.value ?? null,
      set: (key, value, ttlMs) => {
        if (ttlMs !== undefined && ttlMs <= 0) map.delete(key);
        else write(key, value, ttlMs === undefined ? Infinity : t + ttlMs, t);
      },
      del: (key) => void map.delete(key),
      pttl: (key) => {
        const e = live(key, t);
        if (e === undefined) return -2;
        return e.expiresAt === Infinity ? -1 : Math.ceil(e.expiresAt - t);
      },
    };
  }

  function run(c: Command, t: number): unknown {
    switch (c.op) {
      case 'get':
        return live(c.key, t)?.value ?? null;
      case 'set': {
        if (c.nx && live(c.key, t) !== undefined) return false;
        // Written and expired at once: drop it rather than store a dead entry that could evict a live one.
        if (c.ttlMs !== undefined && c.ttlMs <= 0) map.delete(c.key);
        else write(c.key, c.value, c.ttlMs === undefined ? Infinity : t + c.ttlMs, t);
        return true;
      }
      case 'del':
        return live(c.key, t) !== undefined && map.delete(c.key) ? 1 : 0;
      case 'pexpire': {
        const e = live(c.key, t);
        if (e === undefined) return false;
        if (c.ttlMs <= 0) map.delete(c.key);
        else e.expiresAt = t + c.ttlMs;
        return true;
      }
      case 'pttl':
        return data(t).pttl(c.key);
      case 'incrby': {
        const e = live(c.key, t);
        const current = e === undefined ? 0 : parseInteger(e.value);
        const next = current + c.by;
        if (e === undefined) {
          if (c.ttlMs !== undefined && c.ttlMs <= 0) map.delete(c.key);
          else write(c.key, String(next), c.ttlMs === undefined ? Infinity : t + c.ttlMs, t);
        } else e.value = String(next);
        return next;
      }
      case 'eval':
        return c.script.local(data(t), c.keys, c.args, t);
    }
  }

  return {
    kind: 'memory',
    get size() {
      return map.size;
    },
    async batch<const C extends readonly Command[]>(commands: C) {
      const t = now();
      // Like a Redis pipeline: every command runs, and a failing one fails the batch afterwards.
      let failure: unknown;
      const results = commands.map((c) => {
        try {
          return run(c, t);
        } catch (err) {
          failure ??= err;
          return undefined;
        }
      });
      if (failure !== undefined) {
        if (failure instanceof StoreError) throw failure;
        const message = failure instanceof Error ? failure.message : String(failure);
        throw new StoreError('error', `memory: ${message}`, { cause: failure });
      }
      return results as unknown as ResultOf<C>;
    },
    async close() {
      map.clear();
    },
  };
}
