// Bounded memory: a flood of distinct identities through the limiter never grows the memory store past its cap.
import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../src/context.ts';
import { createLimiter, type RouteLimiter } from '../../src/limits/limiter.ts';
import { limitSchema } from '../../src/limits/schema.ts';
import { memoryStore } from '../../src/store/memory.ts';

const T0 = 1_700_002_800_000;
const CAP = 10_000;

function ipOf(i: number): string {
  return `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
}

describe('bounded memory', () => {
  it('1M distinct IPs: the store stays at or under its cap, then expired entries are reclaimed', async () => {
    let clock = T0;
    const store = memoryStore({ maxEntries: CAP, now: () => clock });
    const limiter = createLimiter(
      {
        routes: [
          {
            method: 'GET',
            path: '/',
            limits: [limitSchema.parse({ algorithm: 'sliding-window', limit: 100, window: '60s', key: 'ip' })],
          },
        ],
      },
      { now: () => clock },
    );
    const route = limiter.forRoute(0) as RouteLimiter;
    const base = { request: new Request('http://gw.test/'), params: {}, responseHeaders: new Headers() } as unknown as RequestContext;

    let peak = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const ctx = { ...base, ip: ipOf(i) } as RequestContext;
      const step = route.step(ctx);
      await step.apply(await store.batch(step.commands));
      if (store.size > peak) peak = store.size;
      // The flood spans one second of clock: nothing expires, only the cap bounds the store.
      if ((i & 1023) === 0) clock += 1;
    }
    expect(peak).toBeLessThanOrEqual(CAP);
    expect(store.size).toBe(CAP);
    expect(limiter.stats.allowed).toBe(1_000_000);

    // Two minutes later every entry has expired; new traffic sweeps them as it writes.
    clock += 120_000;
    for (let i = 0; i < 3_000; i++) {
      const step = route.step({ ...base, ip: `172.16.${i >> 8}.${i & 255}` } as RequestContext);
      await step.apply(await store.batch(step.commands));
    }
    // 3 000 live keys; of the 10 000 expired ones, the sweep (8 entries per write) has reclaimed all.
    expect(store.size).toBe(3_000);
  }, 120_000);
});
