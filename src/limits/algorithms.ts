// The four rate-limit algorithms as pure decisions; script.ts holds their Lua twins, line for line.
//
// Rules both twins follow, so that Redis and memory decide identically:
// - Time is integer milliseconds. Every value stays an integer below 2^53 (schema.ts caps
//   limit × window at 2^50), and the only operations are + - * / floor ceil min max on doubles,
//   which IEEE 754 makes identical in Lua 5.1 and JavaScript.
// - A state is one string of integers joined by ":" (the same bytes in Redis and in memory).
// - A state that has expired is equivalent to a missing one, so a key's TTL never changes a
//   decision, only how long memory is held; Redis expiring a key a millisecond later than the
//   memory store does cannot make them disagree.
// - A denied request consumes nothing: `newState` is then the old state and is not written.

export interface LimitParams {
  /** Requests (cost units) per window. */
  readonly limit: number;
  /** Window length in ms. */
  readonly windowMs: number;
  /** Token bucket: bucket size; GCRA: requests allowed at once. Equal to `limit` when not configured. */
  readonly burst: number;
  /** Units this request takes; 0 reads the state without consuming (used for the headers of a denied request). */
  readonly cost: number;
}

export interface Decision {
  readonly allowed: boolean;
  /** Units still available after this request (before it, when denied). */
  readonly remaining: number;
  /** Ms until the quota is fully restored (0 when it already is). */
  readonly resetMs: number;
  /** Ms until this request would be admitted: 0 when allowed, -1 when never (cost above capacity). */
  readonly retryAfterMs: number;
  /** The state to store when the request is committed; the old state when denied. */
  readonly newState: string | null;
  /** TTL for `newState` in ms; 0 or less means delete (the state is equivalent to a missing key). */
  readonly ttlMs: number;
}

export type Decide = (state: string | null, now: number, p: LimitParams) => Decision;

/**
 * Parses a state of exactly `n` runs of digits joined by ":" (Lua's '^(%d+):(%d+)$' and its
 * three-part twin); anything else is treated as missing, as the Lua does.
 * A character loop rather than a regex: this runs twice per limit per request on the memory store.
 */
function parse(state: string | null, n: 2 | 3): number[] | undefined {
  if (state === null) return undefined;
  const out: number[] = [];
  let v = 0;
  let digits = 0;
  for (let i = 0; i <= state.length; i++) {
    const c = i < state.length ? state.charCodeAt(i) : 58; // end of string closes the last run like a ':'
    if (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      digits++;
    } else if (c === 58 && digits > 0 && out.length < n) {
      out.push(v);
      v = 0;
      digits = 0;
    } else return undefined;
  }
  return out.length === n ? out : undefined;
}

function pair(state: string | null): number[] | undefined {
  return parse(state, 2);
}

/**
 * Fixed window: windows aligned to multiples of `windowMs` since the epoch (the same for every
 * identity and every instance, since the time comes from the store). State: "windowStart:count".
 */
export const fixedWindow: Decide = (state, now, { limit, windowMs, cost }) => {
  const start = Math.floor(now / windowMs) * windowMs;
  let count = 0;
  const s = pair(state);
  if (s !== undefined && s[0] === start) count = s[1];
  const reset = start + windowMs - now;
  if (cost <= limit - count) {
    count = count + cost;
    return {
      allowed: true,
      remaining: Math.max(0, limit - count),
      resetMs: reset,
      retryAfterMs: 0,
      newState: `${start}:${count}`,
      ttlMs: reset,
    };
  }
  return {
    allowed: false,
    remaining: Math.max(0, limit - count),
    resetMs: reset,
    retryAfterMs: cost > limit ? -1 : reset,
    newState: state,
    ttlMs: 0,
  };
};

/**
 * Sliding window, the two-window weighted approximation (Cloudflare's and Upstash's): the count of
 * the previous aligned window is weighted by the share of it that the sliding window still covers.
 * Kept exact in integers by comparing `prev·(W−elapsed) + (cur+cost)·W ≤ limit·W` instead of a fraction.
 * State: "windowStart:current:previous".
 *
 * Error bound: it assumes the previous window's requests were evenly spread. In any interval of
 * length W it admits at most limit + prev·elapsed/W < 2·limit (prev ≤ limit; reached only when
 * the previous window's requests all came at its very end), never more than `limit` within one
 * aligned window, and it can also deny early when they all came at its start. With evenly spread
 * traffic it is exact to within one request. https://blog.cloudflare.com/counting-things-a-lot-of-different-things/
 */
export const slidingWindow: Decide = (state, now, { limit, windowMs: w, cost }) => {
  const start = Math.floor(now / w) * w;
  const elapsed = now - start;
  let cur = 0;
  let prev = 0;
  const m = parse(state, 3);
  if (m !== undefined) {
    if (m[0] === start) {
      cur = m[1];
      prev = m[2];
    } else if (m[0] === start - w) prev = m[1];
  }
  let weighted = prev * (w - elapsed) + cur * w;
  if (weighted + cost * w <= limit * w) {
    cur = cur + cost;
    weighted = weighted + cost * w;
    let reset = 0;
    if (cur > 0) reset = start + 2 * w - now;
    else if (prev > 0) reset = start + w - now;
    return {
      allowed: true,
      remaining: Math.max(0, Math.floor((limit * w - weighted) / w)),
      resetMs: reset,
      retryAfterMs: 0,
      newState: `${start}:${cur}:${prev}`,
      // The current count is still needed as the next window's `prev`, so it lives two windows.
      ttlMs: reset,
    };
  }
  let retry = -1;
  if (cost <= limit) {
    const excess = weighted + cost * w - limit * w;
    let t = w; // beyond the current window unless the previous window's weight fades in time
    if (prev > 0) t = Math.ceil(excess / prev);
    if (t < w - elapsed) retry = t;
    else {
      // In the next window `cur` becomes the previous count and fades from full weight.
      const over = (cur + cost - limit) * w;
      retry = w - elapsed;
      if (over > 0) retry = retry + Math.ceil(over / cur);
    }
  }
  let reset = 0;
  if (cur > 0) reset = start + 2 * w - now;
  else if (prev > 0) reset = start + w - now;
  return {
    allowed: false,
    remaining: Math.max(0, Math.floor((limit * w - weighted) / w)),
    resetMs: reset,
    retryAfterMs: retry,
    newState: state,
    ttlMs: 0,
  };
};

/**
 * Token bucket with interval refill (as Envoy's `fill_interval` and @upstash/ratelimit's tokenBucket):
 * a bucket of `burst` tokens, `limit` tokens added every `windowMs`, counted from the moment a full
 * bucket is first drawn from. State: "tokens:lastRefill". A bucket that has refilled to full is
 * stored as if missing (its refill clock restarts), which keeps expiry out of the decision.
 */
export const tokenBucket: Decide = (state, now, { limit, windowMs: w, burst, cost }) => {
  let tokens = burst;
  let last = now;
  const s = pair(state);
  if (s !== undefined) {
    if (now >= s[1]) {
      const n = Math.floor((now - s[1]) / w);
      tokens = Math.min(burst, s[0] + n * limit);
      last = s[1] + n * w;
    } else {
      // The store's clock went back (failover); keep the state rather than refill twice.
      tokens = Math.min(burst, s[0]);
      last = s[1];
    }
    if (tokens >= burst) {
      tokens = burst;
      last = now;
    }
  }
  if (cost <= tokens) {
    tokens = tokens - cost;
    let reset = 0;
    if (tokens < burst) reset = last + Math.ceil((burst - tokens) / limit) * w - now;
    return { allowed: true, remaining: tokens, resetMs: reset, retryAfterMs: 0, newState: `${tokens}:${last}`, ttlMs: reset };
  }
  let reset = 0;
  if (tokens < burst) reset = last + Math.ceil((burst - tokens) / limit) * w - now;
  let retry = -1;
  if (cost <= burst) retry = last + Math.ceil((cost - tokens) / limit) * w - now;
  return { allowed: false, remaining: tokens, resetMs: reset, retryAfterMs: retry, newState: state, ttlMs: 0 };
};

/**
 * GCRA, the leaky bucket as a meter, as redis-cell does it: one timestamp per identity, the
 * theoretical arrival time (TAT). Emission interval T = windowMs/limit, tolerance burst·T.
 * To stay exact when T is not a whole number of ms, time is counted in units of 1/limit ms
 * (so T = windowMs units) and the TAT is stored as "ms:units" with 0 ≤ units < limit.
 * `debt` = TAT − now in units; a request is admitted when debt + cost·T ≤ burst·T.
 * https://en.wikipedia.org/wiki/Generic_cell_rate_algorithm, https://github.com/brandur/redis-cell
 */
export const gcra: Decide = (state, now, { limit, windowMs: w, burst, cost }) => {
  let debt = 0;
  const s = pair(state);
  if (s !== undefined) debt = Math.max(0, (s[0] - now) * limit + s[1]);
  const tolerance = burst * w;
  const need = cost * w;
  if (debt + need <= tolerance) {
    debt = debt + need;
    const whole = Math.floor(debt / limit);
    const reset = Math.ceil(debt / limit);
    return {
      allowed: true,
      remaining: Math.max(0, Math.floor((tolerance - debt) / w)),
      resetMs: reset,
      retryAfterMs: 0,
      newState: `${now + whole}:${debt - whole * limit}`,
      ttlMs: reset,
    };
  }
  let retry = -1;
  if (cost <= burst) retry = Math.ceil((debt + need - tolerance) / limit);
  return {
    allowed: false,
    remaining: Math.max(0, Math.floor((tolerance - debt) / w)),
    resetMs: Math.ceil(debt / limit),
    retryAfterMs: retry,
    newState: state,
    ttlMs: 0,
  };
};

/** Algorithm codes as the script's ARGV carries them. */
export const ALGORITHM_CODES = { 'fixed-window': 1, 'sliding-window': 2, 'token-bucket': 3, gcra: 4 } as const;

/** By code, index 0 unused: the twin of the Lua `algorithms` table. */
export const BY_CODE: readonly (Decide | undefined)[] = [undefined, fixedWindow, slidingWindow, tokenBucket, gcra];
