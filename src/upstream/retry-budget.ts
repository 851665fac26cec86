// Retry budget for one upstream: retries may be at most a share of recent requests, plus a small floor.

export interface RetryBudgetOptions {
  /**
   * Retries allowed per second even without traffic, so a quiet service can still retry (default 3).
   * Like Finagle's and Linkerd's `minRetriesPerSecond`, it adds `minPerSecond × window` retries to
   * every window's allowance.
   */
  minPerSecond?: number;
  /** Length of the sliding window, in ms (default 10 000, Linkerd's and Finagle's TTL). */
  window?: number;
}

export interface RetryBudgetSnapshot {
  /** Requests counted over the sliding window (an estimate: see below). */
  requests: number;
  /** Retries counted over the sliding window. */
  retries: number;
  /** Retries the window allows: `ratio × requests + minPerSecond × window / 1000`. */
  allowance: number;
}

export interface RetryBudget {
  /** Counts one request from a client. Call it once per request, not for its retries. */
  request(): void;
  /** True, and counts the retry, when one more retry stays within the budget; false otherwise. */
  tryRetry(): boolean;
  snapshot(): RetryBudgetSnapshot;
}

/** Tolerance for floating-point shares such as 0.1 × 30 = 3.0000000000000004. */
const EPSILON = 1e-9;

/**
 * Retries stay within `ratio` of the requests of the last `window` ms (Linkerd's retryRatio, Envoy's
 * retry_budget), so an upstream that fails everything sees at most (1 + ratio) times its normal load
 * instead of (1 + retries) times: retries cannot turn an outage into a retry storm.
 * The window is two fixed buckets with the previous one weighted by how much of it still overlaps the
 * window (the sliding-window approximation Cloudflare describes): O(1) time and space per call.
 */
export function createRetryBudget(ratio: number, opts: RetryBudgetOptions = {}, now: () => number): RetryBudget {
  const minPerSecond = opts.minPerSecond ?? 3;
  const window = opts.window ?? 10_000;
  if (!(ratio >= 0 && ratio <= 1)) throw new RangeError('createRetryBudget: ratio must be between 0 and 1');
  if (!(minPerSecond >= 0 && Number.isFinite(minPerSecond))) throw new RangeError('createRetryBudget: minPerSecond must be ≥ 0');
  if (!(window > 0 && Number.isFinite(window))) throw new RangeError('createRetryBudget: window must be a positive duration');
  const reserve = (minPerSecond * window) / 1000;

  let start = Math.floor(now() / window) * window;
  let prevRequests = 0;
  let prevRetries = 0;
  let requests = 0;
  let retries = 0;

  /** Moves the buckets up to time `t`; returns the weight of the previous bucket. */
  function roll(t: number): number {
    const elapsed = t - start;
    // A clock that steps backwards keeps the current bucket rather than rewinding it.
    if (elapsed < 0) return 1;
    if (elapsed >= window) {
      const skipped = Math.floor(elapsed / window);
      if (skipped === 1) {
        prevRequests = requests;
        prevRetries = retries;
      } else {
        prevRequests = 0;
        prevRetries = 0;
      }
      requests = 0;
      retries = 0;
      start += skipped * window;
    }
    return 1 - (t - start) / window;
  }

  return {
    request() {
      roll(now());
      requests++;
    },

    tryRetry() {
      const w = roll(now());
      const used = prevRetries * w + retries;
      if (used + 1 > ratio * (prevRequests * w + requests) + reserve + EPSILON) return false;
      retries++;
      return true;
    },

    snapshot() {
      const w = roll(now());
      const seen = prevRequests * w + requests;
      return { requests: seen, retries: prevRetries * w + retries, allowance: ratio * seen + reserve };
    },
  };
}
