// Balancer picks: distributions within statistical bounds, nginx's smooth round-robin sequence, exclusion.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBalancer } from '../../src/upstream/balancer.ts';

/** A small seeded PRNG (mulberry32), so a failing distribution test can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Evenly spaced draws (k + ½)/steps: turns the alias table's split into near-exact counts. */
function stratified(steps: number): () => number {
  let k = 0;
  return () => ((k++ % steps) + 0.5) / steps;
}

function counts(n: number, picks: number, pick: () => number): number[] {
  const c = new Array<number>(n).fill(0);
  for (let k = 0; k < picks; k++) {
    const i = pick();
    if (i < 0 || i >= n) throw new Error(`pick returned ${i}`);
    c[i]++;
  }
  return c;
}

/** Each count within 5 standard deviations of its binomial expectation (false alarm ≈ 6e-7 per target). */
function expectProportional(c: number[], weights: number[]): void {
  const total = c.reduce((a, b) => a + b, 0);
  const wsum = weights.reduce((a, b) => a + b, 0);
  weights.forEach((w, i) => {
    const p = w / wsum;
    const sd = Math.sqrt(total * p * (1 - p));
    expect(Math.abs(c[i] - total * p), `target ${i}: ${c[i]} of ${total}, expected ${total * p}`).toBeLessThanOrEqual(5 * sd);
  });
}

/** nginx's loop as written in ngx_http_upstream_get_peer, the reference for the round-robin sequence. */
function nginxSequence(weights: number[], length: number): number[] {
  const current = weights.map(() => 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const out: number[] = [];
  for (let k = 0; k < length; k++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i];
      if (best < 0 || current[i] > current[best]) best = i;
    }
    current[best] -= total;
    out.push(best);
  }
  return out;
}

const N = 100_000;

describe('weighted-random', () => {
  const weights = [10, 2, 2, 4]; // the original gateway's example: 10/18, 2/18, 2/18, 4/18

  it.each([1, 42, 0xdeadbeef])('splits picks by weight with a seeded PRNG (seed %i)', (seed) => {
    const b = createBalancer('weighted-random', weights, mulberry32(seed));
    expectProportional(
      counts(4, N, () => b.pick()),
      weights,
    );
  });

  it('splits picks by weight with Math.random', () => {
    const b = createBalancer('weighted-random', weights);
    expectProportional(
      counts(4, N, () => b.pick()),
      weights,
    );
  });

  it('has an alias table that is exact: evenly spaced draws land within a few picks of w/W', () => {
    const b = createBalancer('weighted-random', weights, stratified(18_000));
    const c = counts(4, 18_000, () => b.pick());
    for (const [i, w] of weights.entries()) expect(Math.abs(c[i] - w * 1000)).toBeLessThanOrEqual(2);
  });

  it('is exact for arbitrary weights (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 12 }), (ws) => {
        const steps = 50_000;
        const b = createBalancer('weighted-random', ws, stratified(steps));
        const c = counts(ws.length, steps, () => b.pick());
        const total = ws.reduce((a, x) => a + x, 0);
        // Each alias column is split at one threshold, so each target is off by at most a draw per column.
        for (const [i, w] of ws.entries()) expect(Math.abs(c[i] - (steps * w) / total)).toBeLessThanOrEqual(2 * ws.length);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps the split proportional among the targets left when some are excluded', () => {
    const b = createBalancer('weighted-random', weights, mulberry32(7));
    const c = counts(4, N, () => b.pick((i) => i === 0));
    expect(c[0]).toBe(0);
    expectProportional(c.slice(1), weights.slice(1)); // 2/8, 2/8, 4/8
  });

  it('never returns an excluded target, whatever the exclusion set', () => {
    const random = mulberry32(3);
    const b = createBalancer('weighted-random', [5, 1, 3, 1, 8], random);
    for (let k = 0; k < 20_000; k++) {
      const mask = Math.floor(random() * 32);
      const i = b.pick((j) => ((mask >> j) & 1) === 1);
      if (mask === 31) expect(i).toBe(-1);
      else expect((mask >> i) & 1).toBe(0);
    }
  });

  it('returns -1 only when every target is excluded', () => {
    const b = createBalancer('weighted-random', [1, 1, 1]);
    expect(b.pick(() => true)).toBe(-1);
    expect(b.pick((i) => i !== 2)).toBe(2);
  });

  it('handles a single target', () => {
    const b = createBalancer('weighted-random', [7], mulberry32(1));
    for (let k = 0; k < 100; k++) expect(b.pick()).toBe(0);
    expect(b.pick(() => true)).toBe(-1);
    expect(b.size).toBe(1);
  });

  it('handles large and lopsided weights', () => {
    const ws = [2 ** 40, 1, 2 ** 39];
    const b = createBalancer('weighted-random', ws, mulberry32(9));
    const c = counts(3, N, () => b.pick());
    expectProportional(c, ws);
    expect(c[1]).toBeLessThanOrEqual(1); // p ≈ 6e-13
    expect(b.pick((i) => i !== 1)).toBe(1);
    expect(() => createBalancer('weighted-random', [Number.MAX_SAFE_INTEGER - 1, 1])).not.toThrow();
  });

  it('stays in range when random returns its extremes', () => {
    for (const r of [0, 1 - 2 ** -53, 1]) {
      const b = createBalancer('weighted-random', weights, () => r);
      const i = b.pick();
      expect(i).toBeGreaterThanOrEqual(0);
      expect(i).toBeLessThan(4);
    }
  });
});

describe('round-robin', () => {
  const letters = (seq: number[]) => seq.map((i) => 'abcdefgh'[i]).join(' ');
  const take = (pick: () => number, k: number) => Array.from({ length: k }, pick);

  it('follows nginx: weights 5,1,1 give a a b a c a a', () => {
    const b = createBalancer('round-robin', [5, 1, 1], () => 0);
    expect(letters(take(() => b.pick(), 14))).toBe('a a b a c a a a a b a c a a');
  });

  it('starts at a random point of the cycle, so fresh instances do not all hit the heaviest target first', () => {
    const b = createBalancer('round-robin', [5, 1, 1], () => 0.5); // position ⌊0.5 · 7⌋ = 3
    expect(letters(take(() => b.pick(), 7))).toBe('a c a a a a b');
  });

  it('starts at a random point of a cycle too long to tabulate', () => {
    const weights = [70_001, 1, 2]; // a 70 004-pick cycle, run live
    const reference = nginxSequence(weights, 70_004);
    const light = reference.indexOf(1); // the one pick of the light target, mid-cycle
    const start = light - 3;
    const b = createBalancer('round-robin', weights, () => (start + 0.5) / 70_004);
    const picks = take(() => b.pick(), 10);
    expect(picks).toEqual(reference.slice(start, start + 10));
    expect(picks).toContain(1);
  });

  it('matches nginx for arbitrary weights, tabulated or live (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 8 }), fc.boolean(), (ws, big) => {
        // A weight of 70 000 makes the cycle longer than the table, so the live loop runs.
        const weights = big ? [...ws, 70_000] : ws;
        const b = createBalancer('round-robin', weights, () => 0);
        const length = Math.min(weights.reduce((a, x) => a + x, 0) * 2, 3_000);
        expect(take(() => b.pick(), length)).toEqual(nginxSequence(weights, length));
      }),
      { numRuns: 100 },
    );
  });

  it('gives each target exactly its weight per cycle, whatever the starting point', () => {
    const weights = [10, 2, 2, 4];
    const b = createBalancer('round-robin', weights, mulberry32(5));
    expect(counts(4, 18 * 100, () => b.pick())).toEqual(weights.map((w) => w * 100));
  });

  it('divides weights by their gcd: 20,40 runs like 1,2', () => {
    const b = createBalancer('round-robin', [20, 40], () => 0);
    expect(letters(take(() => b.pick(), 6))).toBe('b a b b a b');
  });

  it('gives the turns of an excluded target to the others, in proportion to their weights', () => {
    const b = createBalancer('round-robin', [3, 2, 1], () => 0);
    const c = counts(3, 6_000, () => b.pick((i) => i === 0));
    expect(c[0]).toBe(0);
    expect(Math.abs(c[1] - 4_000)).toBeLessThanOrEqual(2);
    expect(Math.abs(c[2] - 2_000)).toBeLessThanOrEqual(2);
  });

  it('skips a target that just failed, and returns -1 only when all are excluded', () => {
    const b = createBalancer('round-robin', [1, 1, 1], () => 0);
    expect(b.pick()).toBe(0);
    expect(b.pick((i) => i === 1)).not.toBe(1);
    expect(b.pick(() => true)).toBe(-1);
    expect(b.pick((i) => i !== 1)).toBe(1);
  });

  it('never returns an excluded target, whatever the exclusion set', () => {
    const random = mulberry32(11);
    const b = createBalancer('round-robin', [5, 1, 3, 1, 8], random);
    for (let k = 0; k < 20_000; k++) {
      const mask = Math.floor(random() * 32);
      const i = b.pick((j) => ((mask >> j) & 1) === 1);
      if (mask === 31) expect(i).toBe(-1);
      else expect((mask >> i) & 1).toBe(0);
    }
  });

  it('handles a single target', () => {
    const b = createBalancer('round-robin', [3]);
    expect(take(() => b.pick(), 5)).toEqual([0, 0, 0, 0, 0]);
    expect(b.pick(() => true)).toBe(-1);
  });

  it('handles large weights: 1 000 000 to 1 sends exactly one pick in a cycle to the light target', () => {
    const b = createBalancer('round-robin', [1_000_000, 1], mulberry32(2));
    expect(counts(2, 1_000_001, () => b.pick())).toEqual([1_000_000, 1]);
    const huge = createBalancer('round-robin', [2 ** 52, 2 ** 51, 1], () => 0);
    expect(take(() => huge.pick(), 4)).toEqual(nginxSequence([2 ** 52, 2 ** 51, 1], 4));
  });
});

describe('createBalancer validation', () => {
  it.each([[[]], [[0, 1]], [[-1]], [[1.5]], [[Number.NaN]], [[Number.POSITIVE_INFINITY]], [[Number.MAX_SAFE_INTEGER, 1]]])(
    'rejects weights %j',
    (weights) => {
      expect(() => createBalancer('weighted-random', weights)).toThrow(RangeError);
      expect(() => createBalancer('round-robin', weights)).toThrow(RangeError);
    },
  );

  it('rejects an unknown kind', () => {
    expect(() => createBalancer('least-conn' as never, [1])).toThrow(RangeError);
  });
});
