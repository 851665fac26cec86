// Passive health with a fake clock: ejection, doubling cool-down, probation, and the last target kept.
import { describe, expect, it } from 'vitest';
import { createBalancer } from '../../src/upstream/balancer.ts';
import { createHealth } from '../../src/upstream/health.ts';

function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}

const opts = { failures: 3, cooldown: 10_000, maxCooldown: 35_000 };

function fail(h: ReturnType<typeof createHealth>, i: number, times: number) {
  for (let k = 0; k < times; k++) h.failure(i);
}

describe('createHealth', () => {
  it('ejects a target after `failures` failures in a row, for `cooldown` ms', () => {
    const c = clock();
    const h = createHealth(3, opts, c.now);
    fail(h, 0, 2);
    expect(h.isEjected(0)).toBe(false);
    h.failure(0);
    expect(h.isEjected(0)).toBe(true);
    expect(h.snapshot()[0]).toEqual({ state: 'ejected', failures: 0, ejections: 1, ejectedUntil: 1_010_000 });
    c.advance(9_999);
    expect(h.isEjected(0)).toBe(true);
    c.advance(1);
    expect(h.isEjected(0)).toBe(false);
    expect(h.snapshot()[0].state).toBe('probation');
  });

  it('needs the failures to be consecutive: a success resets the count', () => {
    const h = createHealth(2, opts, clock().now);
    fail(h, 1, 2);
    h.success(1);
    fail(h, 1, 2);
    expect(h.isEjected(1)).toBe(false);
    expect(h.snapshot()[1]).toMatchObject({ state: 'healthy', failures: 2 });
  });

  it('re-ejects a target on probation after one failure, doubling the cool-down up to maxCooldown', () => {
    const c = clock();
    const h = createHealth(2, { failures: 3, cooldown: 10_000, maxCooldown: 100_000 }, c.now);
    fail(h, 0, 3);
    const lengths: number[] = [];
    for (let k = 0; k < 6; k++) {
      const until = h.snapshot()[0].ejectedUntil;
      lengths.push(until - c.now());
      c.set(until); // cool-down over: on probation
      expect(h.isEjected(0)).toBe(false);
      h.failure(0);
      expect(h.isEjected(0)).toBe(true);
    }
    expect(lengths).toEqual([10_000, 20_000, 40_000, 80_000, 100_000, 100_000]);
  });

  it('forgets the ejection history after one success on probation', () => {
    const c = clock();
    const h = createHealth(2, opts, c.now);
    fail(h, 0, 3);
    c.advance(10_000);
    h.failure(0); // second ejection, 20 s
    c.advance(20_000);
    h.success(0);
    expect(h.snapshot()[0]).toEqual({ state: 'healthy', failures: 0, ejections: 0, ejectedUntil: 0 });
    fail(h, 0, 2);
    expect(h.isEjected(0)).toBe(false); // healthy again: one failure is not enough
    h.failure(0);
    expect(h.snapshot()[0].ejectedUntil - c.now()).toBe(10_000); // and the cool-down starts over
  });

  it('ignores outcomes reported while a target is ejected (requests sent before the ejection)', () => {
    const c = clock();
    const h = createHealth(2, opts, c.now);
    fail(h, 0, 3);
    const before = h.snapshot()[0];
    h.success(0);
    fail(h, 0, 10);
    expect(h.snapshot()[0]).toEqual(before);
  });

  it('never ejects the only target', () => {
    const h = createHealth(1, opts, clock().now);
    fail(h, 0, 100);
    expect(h.isEjected(0)).toBe(false);
    expect(h.snapshot()[0]).toMatchObject({ state: 'healthy', failures: 100 });
  });

  it('never ejects the last target available, and ejects it once another comes back', () => {
    const c = clock();
    const h = createHealth(3, opts, c.now);
    fail(h, 0, 3);
    fail(h, 1, 3);
    fail(h, 2, 10);
    expect([0, 1, 2].map(h.isEjected)).toEqual([true, true, false]);
    c.advance(10_000); // 0 and 1 back on probation
    h.failure(2); // its failures kept counting: now it can go
    expect([0, 1, 2].map(h.isEjected)).toEqual([false, false, true]);
    h.failure(0); // probation: one failure ejects, 1 is still available
    expect(h.isEjected(0)).toBe(true);
    h.failure(1); // the last one available stays, even on probation
    expect(h.isEjected(1)).toBe(false);
    expect(h.snapshot()[1]).toMatchObject({ state: 'probation', ejections: 1 });
  });

  it('ends an ejection rather than stretching it when the clock steps backwards', () => {
    const c = clock();
    const h = createHealth(2, opts, c.now);
    fail(h, 0, 3);
    c.advance(-60_000);
    expect(h.isEjected(0)).toBe(false);
  });

  it('caps the first cool-down too when maxCooldown < cooldown', () => {
    const c = clock();
    const h = createHealth(2, { failures: 1, cooldown: 10_000, maxCooldown: 5_000 }, c.now);
    h.failure(0);
    expect(h.snapshot()[0].ejectedUntil - c.now()).toBe(5_000);
  });

  it('serves as a balancer exclusion: ejected targets get no picks', () => {
    const c = clock();
    const h = createHealth(3, { failures: 1, cooldown: 1_000, maxCooldown: 1_000 }, c.now);
    const b = createBalancer('round-robin', [1, 1, 1], () => 0);
    h.failure(1);
    const picks = Array.from({ length: 6 }, () => b.pick(h.isEjected));
    expect(picks).not.toContain(1);
    c.advance(1_000);
    expect(Array.from({ length: 3 }, () => b.pick(h.isEjected))).toContain(1);
  });

  it('rejects invalid options', () => {
    const now = () => 0;
    expect(() => createHealth(0, opts, now)).toThrow(RangeError);
    expect(() => createHealth(2, { ...opts, failures: 0 }, now)).toThrow(RangeError);
    expect(() => createHealth(2, { ...opts, cooldown: -1 }, now)).toThrow(RangeError);
    expect(() => createHealth(2, { ...opts, maxCooldown: Number.NaN }, now)).toThrow(RangeError);
  });
});
