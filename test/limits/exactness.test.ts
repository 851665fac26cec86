// Exactness across instances: two gateway processes, one real Redis, N concurrent requests at a limit L.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, redisForSuite } from '../helpers/redis.ts';
import { type GatewayProcess, serveProcess, stopProcess } from '../helpers/serve-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const redis = await redisForSuite('limits: exactness across gateway processes');

const L = 40;
const N = 240;
const INSTANCES = 2;
const WINDOW = 3_600_000;

/** Commands Redis served, by name, from INFO commandstats. */
async function commandStats(admin: Redis): Promise<Record<string, number>> {
  const info = (await admin.info('commandstats')) as string;
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

describe.skipIf(!redis)('rate limits are exact across gateway processes sharing Redis', () => {
  let upstream: TestUpstream;
  let instances: GatewayProcess[] = [];
  let dir: string;
  let admin: Redis;

  beforeAll(async () => {
    upstream = await startUpstream();
    admin = adminClient(redis!);
    dir = await mkdtemp(join(tmpdir(), 'edgegate-exact-'));
    const limit = (algorithm: string) => [{ algorithm, limit: L, window: '1h', key: { header: 'x-client' } }];
    const config = {
      store: { type: 'redis', url: redis!.url, timeout: '5s' },
      // Closed and generous: a slow store shows as 503 (and fails the count) instead of a silent admission.
      limits: { failure: { policy: 'closed', budget: '5s' } },
      upstreams: { api: { targets: [{ url: upstream.url }] } },
      routes: ['fixed-window', 'sliding-window', 'token-bucket', 'gcra'].map((a) => ({ path: `/${a}`, upstream: 'api', limits: limit(a) })),
    };
    const path = join(dir, 'gateway.json');
    await writeFile(path, JSON.stringify(config));
    instances = await Promise.all(Array.from({ length: INSTANCES }, () => serveProcess(path)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(instances.map(stopProcess));
    await upstream?.close();
    admin?.disconnect();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['fixed-window', L, L],
    ['token-bucket', L, L],
    ['gcra', L, L],
    // The weighted approximation admits fewer than 2·L in any window-long interval; with an empty
    // previous window, as here, exactly L.
    ['sliding-window', L, 2 * L - 1],
  ])(
    `%s: ${N} concurrent requests over ${INSTANCES} processes at a limit of ${L}`,
    async (algorithm, min, max) => {
      // Aligned windows: keep the burst clear of a boundary (by the Redis clock, which decides).
      const [sec] = await admin.time();
      const into = (Number(sec) * 1000) % WINDOW;
      if (into > WINDOW - 10_000) await new Promise((r) => setTimeout(r, WINDOW - into + 100));

      const client = randomUUID();
      await admin.config('RESETSTAT');
      const statuses = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const res = await fetch(`${instances[i % INSTANCES].url}/${algorithm}`, { headers: { 'x-client': client } });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      const stats = await commandStats(admin);

      const admitted = statuses.filter((s) => s === 200).length;
      expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
      expect(admitted).toBeGreaterThanOrEqual(min);
      expect(admitted).toBeLessThanOrEqual(max);

      // One script call per request that reached Redis and no other top-level command; the deny cache
      // answers the rest. Commandstats also counts what the script runs inside: TIME, GET, SET (or DEL).
      const scripts = (stats.evalsha ?? 0) + (stats.eval ?? 0);
      const unexpected = Object.keys(stats).filter(
        (name) => !['evalsha', 'eval', 'time', 'get', 'set', 'del', 'info', 'config|resetstat', 'config'].includes(name),
      );
      expect(unexpected).toEqual([]);
      expect(stats.time).toBe(scripts);
      expect(stats.get).toBe(scripts);
      expect(stats.set).toBe(admitted);
      expect(scripts).toBeGreaterThanOrEqual(admitted);
      expect(scripts).toBeLessThanOrEqual(N);
      console.log(`${algorithm}: ${admitted}/${N} admitted at limit ${L}; ${scripts} EVALSHA for ${N} requests (the rest denied locally)`);
    },
    60_000,
  );
});
