// The local deny cache: an identity the store denied until T is denied again until T without a store call.
// Like @upstash/ratelimit's ephemeral cache, but bounded: a flood of distinct identities cannot grow it.

export interface DenyEntry {
  /** Local-clock ms until which the identity is denied. */
  readonly until: number;
  /** Local-clock ms when its quota is full again (for the RateLimit field). */
  readonly resetAt: number;
  readonly remaining: number;
}

export interface DenyCache {
  get(key: string, now: number): DenyEntry | undefined;
  set(key: string, entry: DenyEntry): void;
  readonly size: number;
}

export function createDenyCache(maxEntries: number): DenyCache {
  // Insertion order doubles as age: the first key is the oldest, evicted first when full.
  const map = new Map<string, DenyEntry>();
  return {
    get(key, now) {
      const e = map.get(key);
      if (e === undefined) return undefined;
      if (e.until <= now) {
        map.delete(key);
        return undefined;
      }
      return e;
    },
    set(key, entry) {
      map.delete(key);
      map.set(key, entry);
      if (map.size > maxEntries) map.delete(map.keys().next().value as string);
    },
    get size() {
      return map.size;
    },
  };
}
