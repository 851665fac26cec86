// Retry budget with a fake clock: the ratio, the per-second floor, and the sliding window.
import { describe, expect, it } from 'vitest';
import { createRetryBudget } from '../../src/upstream/retry-budget.ts';

function clock(start = 0) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

function retriesAllowed(budget: ReturnType<typeof createRetryBudget>, max = 10_000): number {
  let k = 0;
  while (k < max && budget.tryRetry()) k++;
  return k;
}

describe('createRetryBudget', () => {
  it('allows retries up to `ratio` of the requests', () => {
    const b = createRetryBudget(0.2, { minPerSecond: 0 }, clock().now);
    for (let k = 0; k < 100; k++) b.request();
    expect(retriesAllowed(b)).toBe(20);
    b.request();
    b.request();
    b.request();
    b.request();
    expect(b.tryRetry()).toBe(false); // 104 requests: still 20
    b.request();
    expect(b.tryRetry()).toBe(true); // 105: 21
  });

  it('does not count retries as requests', () => {
    const b = createRetryBudget(1, { minPerSecond: 0 }, clock().now);
    b.request();
    expect(b.tryRetry()).toBe(true);
    expect(b.tryRetry()).toBe(false);
    expect(b.snapshot()).toEqual({ requests: 1, retries: 1, allowance: 1 });
  });

  it('lets a quiet service retry minPerSecond × window seconds times per window', () => {
    const c = clock();
    const b = createRetryBudget(0.2, {}, c.now); // defaults: 3/s over 10 s
    expect(retriesAllowed(b)).toBe(30);
    const w = createRetryBudget(0.2, { minPerSecond: 1, window: 2_000 }, c.now);
    expect(retriesAllowed(w)).toBe(2);
  });

  it('adds the floor to the ratio', () => {
    const b = createRetryBudget(0.2, { minPerSecond: 0.5 }, clock().now); // floor: 5 per 10 s
    for (let k = 0; k < 100; k++) b.request();
    expect(retriesAllowed(b)).toBe(25);
  });

  it('tolerates floating-point shares', () => {
    const b = createRetryBudget(0.29, { minPerSecond: 0 }, clock().now);
    for (let k = 0; k < 100; k++) b.request();
    expect(retriesAllowed(b)).toBe(29); // 0.29 × 100 is 28.999999999999996 in floating point
  });

  it('never retries with a zero ratio and no floor', () => {
    const b = createRetryBudget(0, { minPerSecond: 0 }, clock().now);
    for (let k = 0; k < 1_000; k++) b.request();
    expect(b.tryRetry()).toBe(false);
  });

  it('slides: the previous window counts in proportion to its overlap, then is forgotten', () => {
    const c = clock();
    const b = createRetryBudget(0.5, { minPerSecond: 0, window: 1_000 }, c.now);
    for (let k = 0; k < 100; k++) b.request();
    expect(retriesAllowed(b)).toBe(50);
    c.advance(1_500); // half of the previous bucket still overlaps: 50 requests, 25 retries
    expect(b.snapshot()).toEqual({ requests: 50, retries: 25, allowance: 25 });
    expect(b.tryRetry()).toBe(false);
    c.advance(250); // a quarter overlaps: 25 requests and 12.5 retries, plus 10 new requests
    for (let k = 0; k < 10; k++) b.request();
    expect(retriesAllowed(b)).toBe(5); // 12.5 + 5 ≤ 0.5 × 35
    c.advance(2_000); // two windows later, nothing is left
    expect(b.snapshot()).toEqual({ requests: 0, retries: 0, allowance: 0 });
    expect(b.tryRetry()).toBe(false);
  });

  it('recovers once the retries of a failing burst leave the window', () => {
    const c = clock();
    const b = createRetryBudget(0.2, { minPerSecond: 0, window: 10_000 }, c.now);
    for (let k = 0; k < 50; k++) b.request();
    expect(retriesAllowed(b)).toBe(10);
    c.advance(20_000);
    for (let k = 0; k < 50; k++) b.request();
    expect(retriesAllowed(b)).toBe(10);
  });

  it('keeps its counts when the clock steps backwards', () => {
    const c = clock(50_000);
    const b = createRetryBudget(1, { minPerSecond: 0, window: 1_000 }, c.now);
    for (let k = 0; k < 10; k++) b.request();
    c.advance(1_500);
    expect(b.snapshot().requests).toBe(5); // the 10 requests are in the previous bucket, half weight
    c.advance(-1_000); // back before the current bucket: count it as its start, not beyond
    expect(b.snapshot().requests).toBe(10);
    expect(retriesAllowed(b)).toBe(10);
  });

  it('rejects invalid options', () => {
    const now = () => 0;
    expect(() => createRetryBudget(-0.1, {}, now)).toThrow(RangeError);
    expect(() => createRetryBudget(1.5, {}, now)).toThrow(RangeError);
    expect(() => createRetryBudget(Number.NaN, {}, now)).toThrow(RangeError);
    expect(() => createRetryBudget(0.2, { minPerSecond: -1 }, now)).toThrow(RangeError);
    expect(() => createRetryBudget(0.2, { window: 0 }, now)).toThrow(RangeError);
  });
});
