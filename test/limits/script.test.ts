// The limits script and its memory twin give identical decisions: one scenario table, a controlled clock, memory and real Redis.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisRest, startRedisRest } from '../../adapters/node/redis-rest.ts';
import { redisStore } from '../../adapters/node/redis-store.ts';
import { ALGORITHM_CODES } from '../../src/limits/algorithms.ts';
import type { AlgorithmName } from '../../src/limits/schema.ts';
import { limitsScript } from '../../src/limits/script.ts';
import { memoryStore } from '../../src/store/memory.ts';
import type { Store } from '../../src/store/store.ts';
import { upstashStore } from '../../src/store/upstash.ts';
import { redisForSuite, uniquePrefix } from '../helpers/redis.ts';

const redis = await redisForSuite('limits script (redis tcp, upstash via bridge)');

/** A window-aligned instant (multiple of 60 s), so boundaries in the table are easy to read. */
const T0 = 1_700_000_040_000;

interface L {
  algorithm: AlgorithmName;
  limit: number;
  window: number;
  burst?: number;
  cost?: number;
}

interface Scenario {
  name: string;
  limits: L[];
  /** Request times, ms after T0. */
  at: number[];
  /** The expected overall verdicts, so the table also documents behaviour (1 allowed, 0 denied). */
  verdicts?: number[];
}

const scenarios: Scenario[] = [
  {
    name: 'fixed window 3/1s: fills, denies, resets at the boundary',
    limits: [{ algorithm: 'fixed-window', limit: 3, window: 1_000 }],
    at: [0, 1, 2, 3, 999, 1_000, 1_001],
    verdicts: [1, 1, 1, 0, 0, 1, 1],
  },
  {
    name: 'sliding window 4/1s: the previous window fades',
    limits: [{ algorithm: 'sliding-window', limit: 4, window: 1_000 }],
    at: [500, 500, 500, 500, 500, 1_000, 1_249, 1_250, 1_251, 1_500, 3_000],
    verdicts: [1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1],
  },
  {
    name: 'token bucket 2/1s burst 5: burst, then whole refills',
    limits: [{ algorithm: 'token-bucket', limit: 2, window: 1_000, burst: 5 }],
    at: [0, 0, 0, 0, 0, 0, 999, 1_000, 1_000, 1_000, 9_000],
    verdicts: [1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1],
  },
  {
    name: 'gcra 3/1s burst 1: emission interval 333.3 ms kept exact',
    limits: [{ algorithm: 'gcra', limit: 3, window: 1_000, burst: 1 }],
    at: [0, 333, 334, 667, 668, 1_001, 1_002],
    verdicts: [1, 0, 1, 0, 1, 0, 1],
  },
  {
    name: '2/s AND 3/min: the minute denies, the second is not consumed',
    limits: [
      { algorithm: 'fixed-window', limit: 2, window: 1_000 },
      { algorithm: 'gcra', limit: 3, window: 60_000 },
    ],
    at: [0, 1, 2, 1_000, 1_001, 2_000, 20_000, 40_000],
    verdicts: [1, 1, 0, 1, 0, 0, 1, 1],
  },
  {
    name: 'all four together, cost 2',
    limits: [
      { algorithm: 'fixed-window', limit: 10, window: 1_000, cost: 2 },
      { algorithm: 'sliding-window', limit: 8, window: 1_000, cost: 2 },
      { algorithm: 'token-bucket', limit: 4, window: 500, burst: 6, cost: 2 },
      { algorithm: 'gcra', limit: 6, window: 1_000, burst: 4, cost: 2 },
    ],
    at: [0, 10, 20, 30, 400, 700, 1_000, 1_300, 1_600, 5_000],
  },
  {
    name: 'cost above capacity never passes',
    limits: [
      { algorithm: 'fixed-window', limit: 5, window: 1_000 },
      { algorithm: 'token-bucket', limit: 1, window: 1_000, burst: 2, cost: 3 },
    ],
    at: [0, 10_000],
    verdicts: [0, 0],
  },
];

function argsFor(limits: L[], now: number | ''): string[] {
  const args = [String(now)];
  for (const l of limits)
    args.push(String(ALGORITHM_CODES[l.algorithm]), String(l.limit), String(l.window), String(l.burst ?? l.limit), String(l.cost ?? 1));
  return args;
}

/**
 * Runs a scenario; returns every reply and the final stored states. With `setClock` the store's own
 * clock follows the scenario and the script reads it; without, the script gets the time in ARGV[1].
 */
async function run(
  store: Store,
  setClock: ((ms: number) => void) | undefined,
  s: Scenario,
  prefix: string,
): Promise<{ replies: number[][]; states: (string | null)[] }> {
  const keys = s.limits.map((_, i) => `${prefix}:${i}`);
  const replies: number[][] = [];
  for (const dt of s.at) {
    setClock?.(T0 + dt);
    const args = argsFor(s.limits, setClock === undefined ? T0 + dt : '');
    const [reply] = await store.batch([{ op: 'eval', script: limitsScript, keys, args }] as const);
    replies.push(reply as number[]);
  }
  const states = await store.batch(keys.map((key) => ({ op: 'get' as const, key })));
  return { replies, states: states as (string | null)[] };
}

/** On memory whose own clock follows the scenario: the script reads it, and keys expire as time passes. */
function onMemory(s: Scenario) {
  let clock = T0;
  const store = memoryStore({ now: () => clock });
  return run(store, (ms) => (clock = ms), s, 'm');
}

/** On memory with the time in ARGV[1], exactly as Redis runs it in these tests. */
function onMemoryArgClock(s: Scenario) {
  return run(memoryStore({ now: () => T0 }), undefined, s, 'm');
}

describe('limits script on memory', () => {
  it.each(scenarios.filter((s) => s.verdicts !== undefined))('$name', async (s) => {
    const { replies } = await onMemory(s);
    expect(replies.map((r) => r[0])).toEqual(s.verdicts);
  });

  it('a denied request writes nothing; an allowed one writes every limit with a TTL', async () => {
    let clock = T0;
    const store = memoryStore({ now: () => clock });
    const limits: L[] = [
      { algorithm: 'fixed-window', limit: 5, window: 1_000 },
      { algorithm: 'gcra', limit: 1, window: 1_000 },
    ];
    const keys = ['a', 'b'];
    const [first] = await store.batch([{ op: 'eval', script: limitsScript, keys, args: argsFor(limits, '') }] as const);
    expect(first).toEqual([1, 0, T0, 1, 4, 1_000, 0, 1, 0, 1_000, 0]);
    const before = await store.batch([
      { op: 'get', key: 'a' },
      { op: 'get', key: 'b' },
      { op: 'pttl', key: 'a' },
      { op: 'pttl', key: 'b' },
    ] as const);
    expect(before).toEqual([`${T0}:1`, `${T0 + 1_000}:0`, 1_000, 1_000]);
    clock += 10;
    const [second] = await store.batch([{ op: 'eval', script: limitsScript, keys, args: argsFor(limits, '') }] as const);
    // gcra denies for 990 ms more; the fixed window, which would have admitted it, reports its unconsumed state.
    expect(second).toEqual([0, 990, T0 + 10, 1, 4, 990, 0, 0, 0, 990, 990]);
    const after = await store.batch([
      { op: 'get', key: 'a' },
      { op: 'get', key: 'b' },
    ] as const);
    expect(after).toEqual(before.slice(0, 2));
  });
});

const BRIDGE_TOKEN = 'limits-token-0123456789';

/** Each backend that must decide exactly as the memory twin does. */
const backends: { name: string; open: () => Promise<{ store: Store; close: () => Promise<void> }> }[] = [
  {
    name: 'redis tcp',
    open: async () => {
      const store = redisStore({ url: redis!.url, timeoutMs: 10_000 });
      return { store, close: () => store.close() };
    },
  },
  {
    name: 'upstash via bridge',
    open: async () => {
      const bridge: RedisRest = await startRedisRest({ redis: redis!.url, token: BRIDGE_TOKEN });
      const store = upstashStore({ url: bridge.url, token: BRIDGE_TOKEN, timeoutMs: 10_000 });
      return {
        store,
        close: async () => {
          await store.close();
          await bridge.close();
        },
      };
    },
  },
];

afterAll(() => redis?.stop());

describe.skipIf(!redis).each(backends)('limits script: memory and $name decide identically', ({ open }) => {
  let remote: Store;
  let close: () => Promise<void>;
  const prefix = uniquePrefix('limits');
  let run_ = 0;

  beforeAll(async () => {
    ({ store: remote, close } = await open());
  });
  afterAll(() => close?.());

  it.each(scenarios)('$name', async (s) => {
    // Redis gets the scenario's clock in ARGV[1]. Memory with its own clock following the scenario
    // (and expiring keys on it) must decide the same: an expired state decides like a missing one.
    const red = await run(remote, undefined, s, `${prefix}s${run_++}`);
    expect(red).toEqual(await onMemoryArgClock(s));
    expect(red.replies).toEqual((await onMemory(s)).replies);
  });

  it('random scenarios: every reply and every stored state agree', async () => {
    const limitArb = fc.record({
      algorithm: fc.constantFrom<AlgorithmName>('fixed-window', 'sliding-window', 'token-bucket', 'gcra'),
      limit: fc.integer({ min: 1, max: 20 }),
      window: fc.constantFrom(7, 100, 333, 1_000, 60_000),
      burst: fc.integer({ min: 1, max: 25 }),
      cost: fc.integer({ min: 1, max: 4 }),
    });
    const scenarioArb = fc.record({
      limits: fc.array(limitArb, { minLength: 1, maxLength: 4 }),
      gaps: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 3_000 })), {
        minLength: 1,
        maxLength: 30,
      }),
      start: fc.integer({ min: 0, max: 120_000 }),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ limits, gaps, start }) => {
        const at: number[] = [];
        let t = start;
        for (const g of gaps) {
          t += g;
          at.push(t);
        }
        const s: Scenario = { name: 'random', limits, at };
        const red = await run(remote, undefined, s, `${prefix}p${n++}`);
        expect(red).toEqual(await onMemoryArgClock(s));
        expect(red.replies).toEqual((await onMemory(s)).replies);
      }),
      { numRuns: 100 },
    );
  });

  it('a malformed state reads as missing on both', async () => {
    const bad = ['', ':', '1:', ':1', '1::2', '1:2:', 'a:b', ' 1:2', '1:2 ', '-1:2', '1.5:2', '1:2:3:4', '１:2'];
    const all: L[] = [
      { algorithm: 'fixed-window', limit: 3, window: 1_000 },
      { algorithm: 'sliding-window', limit: 3, window: 1_000 },
      { algorithm: 'token-bucket', limit: 3, window: 1_000 },
      { algorithm: 'gcra', limit: 3, window: 1_000 },
      // well-formed for some algorithms, wrong arity for others
    ];
    const states = [...bad, `${T0}:1`, `${T0}:1:2`];
    const memory = memoryStore({ now: () => T0 });
    for (const [i, state] of states.entries()) {
      for (const [j, l] of all.entries()) {
        const key = `${prefix}bad:${i}:${j}`;
        const seed = [{ op: 'set' as const, key, value: state }];
        await memory.batch(seed);
        await remote.batch(seed);
        const command = [{ op: 'eval' as const, script: limitsScript, keys: [key], args: argsFor([l], T0 + 5) }];
        expect(await remote.batch(command)).toEqual(await memory.batch(command));
      }
    }
  });

  it('without a clock override the script reads the server clock and sets TTLs', async () => {
    const limits: L[] = [{ algorithm: 'sliding-window', limit: 5, window: 60_000 }];
    const before = Date.now();
    const [reply, pttl] = await remote.batch([
      { op: 'eval', script: limitsScript, keys: [`${prefix}clock`], args: argsFor(limits, '') },
      { op: 'pttl', key: `${prefix}clock` },
    ] as const);
    const r = reply as number[];
    expect(r[0]).toBe(1);
    expect(r[2]).toBeGreaterThanOrEqual(before - 1_000);
    expect(r[2]).toBeLessThanOrEqual(Date.now() + 1_000);
    // Two windows, less the time already into this one.
    expect(pttl).toBeGreaterThan(60_000);
    expect(pttl).toBeLessThanOrEqual(120_000);
  });
});
