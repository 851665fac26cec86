// The four algorithms as pure decisions: edge tables with a fake clock, then properties every one must keep.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Decide, fixedWindow, gcra, type LimitParams, slidingWindow, tokenBucket } from '../../src/limits/algorithms.ts';

/** Aligned to every window used below. */
const T0 = 1_700_000_040_000;

interface Step {
  /** ms after T0 */
  at: number;
  /** overrides the row's cost for this request */
  cost?: number;
  /** [allowed, remaining, resetMs, retryAfterMs] */
  expect: [boolean, number, number, number];
}

interface Row {
  name: string;
  params: Omit<LimitParams, 'cost'> & { cost?: number };
  steps: Step[];
}

/** Runs a row from an empty state, chaining committed states as the script does. */
function play(decide: Decide, row: Row) {
  let state: string | null = null;
  return row.steps.map((s) => {
    const d = decide(state, T0 + s.at, { ...row.params, cost: s.cost ?? row.params.cost ?? 1 });
    if (d.allowed) state = d.newState;
    return [d.allowed, d.remaining, d.resetMs, d.retryAfterMs];
  });
}

const tables: [string, Decide, Row[]][] = [
  [
    'fixed window',
    fixedWindow,
    [
      {
        name: 'fills, denies until the boundary, resets at it',
        params: { limit: 3, windowMs: 1_000, burst: 3 },
        steps: [
          { at: 0, expect: [true, 2, 1_000, 0] },
          { at: 1, expect: [true, 1, 999, 0] },
          { at: 2, expect: [true, 0, 998, 0] },
          { at: 3, expect: [false, 0, 997, 997] },
          { at: 999, expect: [false, 0, 1, 1] },
          { at: 1_000, expect: [true, 2, 1_000, 0] },
        ],
      },
      {
        name: 'a stale window counts as empty however old',
        params: { limit: 2, windowMs: 1_000, burst: 2 },
        steps: [
          { at: 500, expect: [true, 1, 500, 0] },
          { at: 500, expect: [true, 0, 500, 0] },
          { at: 86_400_500, expect: [true, 1, 500, 0] },
        ],
      },
      {
        name: 'cost > 1 takes several units; a cost that does not fit waits for the next window',
        params: { limit: 5, windowMs: 1_000, burst: 5, cost: 3 },
        steps: [
          { at: 0, expect: [true, 2, 1_000, 0] },
          { at: 10, expect: [false, 2, 990, 990] },
          { at: 20, cost: 2, expect: [true, 0, 980, 0] },
          { at: 1_000, expect: [true, 2, 1_000, 0] },
        ],
      },
      {
        name: 'cost > limit never passes (retry -1)',
        params: { limit: 2, windowMs: 1_000, burst: 2, cost: 3 },
        steps: [{ at: 0, expect: [false, 2, 1_000, -1] }],
      },
    ],
  ],
  [
    'sliding window',
    slidingWindow,
    [
      {
        name: 'the previous window fades linearly; retry is exact',
        params: { limit: 10, windowMs: 1_000, burst: 10 },
        steps: [
          ...Array.from({ length: 10 }, (_, i): Step => ({ at: 500, expect: [true, 9 - i, 1_500, 0] })),
          // prev 0, cur 10: wait for the next window, then 100 ms for 10·(1000−e) + 1000 ≤ 10000
          { at: 500, expect: [false, 0, 1_500, 600] },
          { at: 1_099, expect: [false, 0, 901, 1] },
          { at: 1_100, expect: [true, 0, 1_900, 0] },
          // e = 500: 10·500 + 1·1000 = 6000 → room for 4 − this one
          { at: 1_500, expect: [true, 3, 1_500, 0] },
          { at: 1_500, expect: [true, 2, 1_500, 0] },
          { at: 1_500, expect: [true, 1, 1_500, 0] },
          { at: 1_500, expect: [true, 0, 1_500, 0] },
          // within the window: the previous count's weight falls 10 units per ms; 1000 to shed
          { at: 1_500, expect: [false, 0, 1_500, 100] },
          { at: 1_600, expect: [true, 0, 1_400, 0] },
          // two windows on, nothing is left
          { at: 3_000, expect: [true, 9, 2_000, 0] },
        ],
      },
      {
        name: 'at a window boundary the whole previous count still weighs',
        params: { limit: 2, windowMs: 1_000, burst: 2 },
        steps: [
          { at: 999, expect: [true, 1, 1_001, 0] },
          { at: 999, expect: [true, 0, 1_001, 0] },
          { at: 1_000, expect: [false, 0, 1_000, 500] },
          { at: 1_500, expect: [true, 0, 1_500, 0] },
        ],
      },
      {
        name: 'cost > 1, and cost equal to the limit waits two windows after a full one',
        params: { limit: 4, windowMs: 1_000, burst: 4, cost: 4 },
        steps: [
          { at: 0, expect: [true, 0, 2_000, 0] },
          { at: 0, expect: [false, 0, 2_000, 2_000] },
          { at: 2_000, expect: [true, 0, 2_000, 0] },
        ],
      },
      {
        name: 'cost > limit never passes',
        params: { limit: 4, windowMs: 1_000, burst: 4, cost: 5 },
        steps: [{ at: 0, expect: [false, 4, 0, -1] }],
      },
    ],
  ],
  [
    'token bucket',
    tokenBucket,
    [
      {
        name: 'burst, then `limit` tokens every window from the first draw',
        params: { limit: 2, windowMs: 1_000, burst: 5 },
        steps: [
          { at: 0, expect: [true, 4, 1_000, 0] },
          { at: 0, expect: [true, 3, 1_000, 0] },
          { at: 0, expect: [true, 2, 2_000, 0] },
          { at: 0, expect: [true, 1, 2_000, 0] },
          { at: 0, expect: [true, 0, 3_000, 0] },
          { at: 0, expect: [false, 0, 3_000, 1_000] },
          { at: 999, expect: [false, 0, 2_001, 1] },
          { at: 1_000, expect: [true, 1, 2_000, 0] },
          { at: 1_500, expect: [true, 0, 2_500, 0] },
          { at: 1_500, expect: [false, 0, 2_500, 500] },
          // refilled to full: the refill clock restarts at the next draw
          { at: 9_123, expect: [true, 4, 1_000, 0] },
        ],
      },
      {
        name: 'cost > 1 waits for enough refills',
        params: { limit: 1, windowMs: 100, burst: 3, cost: 3 },
        steps: [
          { at: 0, expect: [true, 0, 300, 0] },
          { at: 50, expect: [false, 0, 250, 250] },
          { at: 300, expect: [true, 0, 300, 0] },
        ],
      },
      {
        name: 'cost > burst never passes',
        params: { limit: 5, windowMs: 1_000, burst: 5, cost: 6 },
        steps: [{ at: 0, expect: [false, 5, 0, -1] }],
      },
    ],
  ],
  [
    'gcra',
    gcra,
    [
      {
        name: 'burst at once, then one every emission interval (T = 100 ms)',
        params: { limit: 10, windowMs: 1_000, burst: 3 },
        steps: [
          { at: 0, expect: [true, 2, 100, 0] },
          { at: 0, expect: [true, 1, 200, 0] },
          { at: 0, expect: [true, 0, 300, 0] },
          { at: 0, expect: [false, 0, 300, 100] },
          { at: 99, expect: [false, 0, 201, 1] },
          { at: 100, expect: [true, 0, 300, 0] },
          { at: 1_000, expect: [true, 2, 100, 0] },
        ],
      },
      {
        name: 'T = 333.3 ms is kept exact: arrivals at 0, 334, 668, 1001+1',
        params: { limit: 3, windowMs: 1_000, burst: 1 },
        steps: [
          { at: 0, expect: [true, 0, 334, 0] },
          { at: 333, expect: [false, 0, 1, 1] },
          { at: 334, expect: [true, 0, 334, 0] },
          { at: 667, expect: [false, 0, 1, 1] },
          { at: 668, expect: [true, 0, 334, 0] },
          { at: 1_001, expect: [false, 0, 1, 1] },
          { at: 1_002, expect: [true, 0, 334, 0] },
        ],
      },
      {
        name: 'cost > 1 needs that many intervals of room',
        params: { limit: 10, windowMs: 1_000, burst: 4, cost: 3 },
        steps: [
          { at: 0, expect: [true, 1, 300, 0] },
          { at: 0, expect: [false, 1, 300, 200] },
          { at: 200, expect: [true, 0, 400, 0] },
        ],
      },
      {
        name: 'cost > burst never passes',
        params: { limit: 10, windowMs: 1_000, burst: 2, cost: 3 },
        steps: [{ at: 0, expect: [false, 2, 0, -1] }],
      },
    ],
  ],
];

for (const [algorithm, decide, rows] of tables) {
  describe(algorithm, () => {
    it.each(rows)('$name', (row) => {
      expect(play(decide, row)).toEqual(row.steps.map((s) => s.expect));
    });
  });
}

// Properties: what the numbers in a decision promise, checked on random histories.
const algorithms: [string, Decide, (p: LimitParams) => number][] = [
  ['fixed window', fixedWindow, (p) => p.limit],
  ['sliding window', slidingWindow, (p) => p.limit],
  ['token bucket', tokenBucket, (p) => p.burst],
  ['gcra', gcra, (p) => p.burst],
];

const paramsArb = fc.record({
  limit: fc.integer({ min: 1, max: 30 }),
  windowMs: fc.integer({ min: 1, max: 5_000 }),
  burst: fc.integer({ min: 1, max: 40 }),
  cost: fc.integer({ min: 1, max: 5 }),
});
const historyArb = fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3_000 }), cost: fc.integer({ min: 1, max: 5 }) }), {
  maxLength: 40,
});

/** Plays a random history and returns the state and clock at its end. */
function replay(decide: Decide, p: LimitParams, history: { gap: number; cost: number }[]) {
  let state: string | null = null;
  let now = T0;
  for (const h of history) {
    now += h.gap;
    const d = decide(state, now, { ...p, cost: h.cost });
    if (d.allowed) state = d.newState;
  }
  return { state, now };
}

describe.each(algorithms)('%s properties', (_, decide, capacity) => {
  it('retryAfterMs is exact: denied one ms before, admitted at it', () => {
    fc.assert(
      fc.property(paramsArb, historyArb, (p, history) => {
        const { state, now } = replay(decide, p, history);
        const d = decide(state, now, p);
        if (d.allowed || d.retryAfterMs < 0) return;
        expect(d.retryAfterMs).toBeGreaterThan(0);
        expect(decide(state, now + d.retryAfterMs - 1, p).allowed).toBe(false);
        expect(decide(state, now + d.retryAfterMs, p).allowed).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('remaining is exact: that many units pass at once, then one more does not', () => {
    fc.assert(
      fc.property(paramsArb, historyArb, (p, history) => {
        let { state, now } = replay(decide, p, history);
        const first = decide(state, now, { ...p, cost: 0 });
        for (let i = 0; i < first.remaining; i++) {
          const d = decide(state, now, { ...p, cost: 1 });
          expect(d.allowed).toBe(true);
          state = d.newState;
        }
        expect(decide(state, now, { ...p, cost: 1 }).allowed).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('resetMs is exact: full quota at it, not one ms before; the TTL outlives no live state', () => {
    fc.assert(
      fc.property(paramsArb, historyArb, (p, history) => {
        const { state, now } = replay(decide, p, history);
        const d = decide(state, now, p);
        const after = d.allowed ? d.newState : state;
        const full = capacity(p);
        expect(decide(after, now + d.resetMs, { ...p, cost: 0 }).remaining).toBe(full);
        if (d.remaining < full) expect(decide(after, now + d.resetMs - 1, { ...p, cost: 0 }).remaining).toBeLessThan(full);
        // Once the TTL has run out, the state decides exactly like a missing key (and commits the same state).
        if (d.allowed) {
          for (const later of [d.ttlMs, d.ttlMs + 1, d.ttlMs + 7_919]) {
            const { newState: a, ...stale } = decide(after, now + later, p);
            const { newState: b, ...missing } = decide(null, now + later, p);
            expect(stale).toEqual(missing);
            if (missing.allowed) expect(a).toBe(b);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a denied request changes nothing', () => {
    fc.assert(
      fc.property(paramsArb, historyArb, (p, history) => {
        const { state, now } = replay(decide, p, history);
        const d = decide(state, now, p);
        if (!d.allowed) expect(d.newState).toBe(state);
      }),
    );
  });
});

describe('admission bounds over random traffic', () => {
  const trafficArb = fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 300 });

  function admitted(decide: Decide, p: LimitParams, gaps: number[]): number[] {
    let state: string | null = null;
    let now = T0;
    const times: number[] = [];
    for (const g of gaps) {
      now += g;
      const d = decide(state, now, p);
      if (d.allowed) {
        state = d.newState;
        times.push(now);
      }
    }
    return times;
  }

  it('fixed window: at most `limit` per aligned window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 10, max: 2_000 }), trafficArb, (limit, w, gaps) => {
        const per = new Map<number, number>();
        for (const t of admitted(fixedWindow, { limit, windowMs: w, burst: limit, cost: 1 }, gaps)) {
          const k = Math.floor(t / w);
          per.set(k, (per.get(k) ?? 0) + 1);
        }
        for (const n of per.values()) expect(n).toBeLessThanOrEqual(limit);
      }),
    );
  });

  it('sliding window: at most `limit` per aligned window and fewer than 2·limit in any window-long interval', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 10, max: 2_000 }), trafficArb, (limit, w, gaps) => {
        const times = admitted(slidingWindow, { limit, windowMs: w, burst: limit, cost: 1 }, gaps);
        for (let i = 0; i < times.length; i++) {
          let inWindow = 0;
          let inAligned = 0;
          for (let j = i; j < times.length && times[j] < times[i] + w; j++) {
            inWindow++;
            if (Math.floor(times[j] / w) === Math.floor(times[i] / w)) inAligned++;
          }
          expect(inWindow).toBeLessThan(2 * limit);
          expect(inAligned).toBeLessThanOrEqual(limit);
        }
      }),
    );
  });

  it('gcra: at most burst + ⌊d·limit/window⌋ in any interval of d ms', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 10, max: 2_000 }),
        fc.integer({ min: 1, max: 6 }),
        trafficArb,
        (limit, w, burst, gaps) => {
          const times = admitted(gcra, { limit, windowMs: w, burst, cost: 1 }, gaps);
          for (let i = 0; i < times.length; i++) {
            for (let j = i; j < times.length; j++) {
              const d = times[j] - times[i];
              expect(j - i + 1).toBeLessThanOrEqual(burst + Math.floor((d * limit) / w));
            }
          }
        },
      ),
    );
  });

  it('token bucket: at most burst + limit per refill that fits in the interval', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 10, max: 2_000 }),
        fc.integer({ min: 1, max: 12 }),
        trafficArb,
        (limit, w, burst, gaps) => {
          const times = admitted(tokenBucket, { limit, windowMs: w, burst, cost: 1 }, gaps);
          for (let i = 0; i < times.length; i++) {
            for (let j = i; j < times.length; j++) {
              const d = times[j] - times[i];
              expect(j - i + 1).toBeLessThanOrEqual(burst + (Math.floor(d / w) + 1) * limit);
            }
          }
        },
      ),
    );
  });
});
