// A bounded soak: a steady loopback load for a fixed time through TWO gateway processes sharing one real
// Redis, with sessions and rate limits on. Zero unexpected errors; each gateway's RSS flat within 10%
// after warm-up; and the rate limits exact: per key, exactly the limit admitted (fixed window, across
// both processes), and Redis's counter equal to what was admitted.
// Short form in CI; EDGEGATE_SOAK_SECONDS=60 (and EDGEGATE_SOAK_RPS) for the long form.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keygen } from '../../src/session/keys.ts';
import { adminClient, redisForSuite } from '../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { recordFigures } from '../security/figures.ts';
import { type GatewayProcess, median, rssKiB, serveProcess, stopProcess } from './processes.ts';

const redis = await redisForSuite('soak: two gateway processes on one Redis');

const SECONDS = Number(process.env.EDGEGATE_SOAK_SECONDS ?? 15);
const RPS = Number(process.env.EDGEGATE_SOAK_RPS ?? 300);
/** Warm-up: JIT, pools and caches filling; RSS is judged after it. */
const WARMUP_MS = Math.max(3_000, SECONDS * 250);
/** Each phase uses fresh rate-limit keys, so every key sees more attempts than its limit. */
const PHASE_MS = 3_000;
const KEYS_PER_PHASE = 20;
const USERS = 16;
const LIMITS = { data: 30, public: 2 };
const WINDOW_MS = 3_600_000;

interface Tally {
  ok: number;
  limited: number;
}

let upstream: TestUpstream;
let gateways: GatewayProcess[] = [];
let dir: string;
let admin: Redis;

beforeAll(async () => {
  if (!redis) return;
  upstream = await startUpstream((req, res, body) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url === '/login') res.end(JSON.stringify({ code: 0, data: { user_id: JSON.parse(body || '{}').user ?? 'anon' } }));
    else res.end(JSON.stringify({ code: 0, user: req.headers['x-user-id'] ?? null }));
  });
  admin = adminClient(redis);
  const key = await keygen('ES256', 'soak');
  dir = await mkdtemp(join(tmpdir(), 'edgegate-soak-'));
  const config = {
    store: { type: 'redis', url: redis.url, timeout: '2s' },
    // Closed and generous: a slow store shows up as a 503 (an error here), never as a silent admission.
    limits: { failure: { policy: 'closed', budget: '2s' } },
    upstreams: { api: { targets: [{ url: upstream.url }] } },
    session: {
      keys: [{ kid: 'soak', alg: 'ES256', privateKey: key.privateKeyPem }],
      issuer: 'https://soak.test',
      audience: 'api',
      ttl: '10m',
    },
    routes: [
      { method: 'POST', path: '/login', upstream: 'api', rewrite: '/login', login: { userId: '/data/user_id', token: '/data/token' } },
      {
        name: 'data',
        path: '/api/data',
        upstream: 'api',
        auth: 'session',
        limits: [{ algorithm: 'fixed-window', limit: LIMITS.data, window: WINDOW_MS, key: { header: 'x-client' } }],
      },
      {
        name: 'public',
        path: '/public',
        upstream: 'api',
        limits: [{ algorithm: 'fixed-window', limit: LIMITS.public, window: WINDOW_MS, key: { header: 'x-client' } }],
      },
    ],
  };
  const path = join(dir, 'gateway.json');
  await writeFile(path, JSON.stringify(config));
  // SIGUSR2 → a full GC in each gateway (gc-on-signal.mjs), for RSS readings at the post-GC floor.
  const gcArgs = ['--expose-gc', '--import', fileURLToPath(new URL('./gc-on-signal.mjs', import.meta.url))];
  gateways = await Promise.all([serveProcess(path, gcArgs), serveProcess(path, gcArgs)]);
}, 60_000);

afterAll(async () => {
  const codes = await Promise.all(gateways.map(stopProcess));
  expect(codes, 'both gateways exit 0 on SIGTERM').toEqual(gateways.map(() => 0));
  await upstream?.close();
  admin?.disconnect();
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 30_000);

describe.skipIf(!redis)('bounded soak', () => {
  it(
    `${SECONDS} s at ${RPS} req/s through two gateway processes sharing Redis`,
    async () => {
      // The windows are aligned to the Redis clock: keep the run clear of a boundary.
      const [sec] = await admin.time();
      const into = (Number(sec) * 1000) % WINDOW_MS;
      if (into > WINDOW_MS - (SECONDS + 15) * 1000) await new Promise((r) => setTimeout(r, WINDOW_MS - into + 500));

      const pools = gateways.map((g) => new Pool(g.url, { connections: 32 }));
      const tokens: string[][] = gateways.map(() => []);
      const tallies = new Map<string, Tally>();
      const errors: string[] = [];
      const byStatus: Record<number, number> = {};
      let sent = 0;
      let logins = 0;

      async function call(g: number, method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string) {
        const res = await pools[g].request({ method, path, headers, body });
        const text = await res.body.text();
        byStatus[res.statusCode] = (byStatus[res.statusCode] ?? 0) + 1;
        return { status: res.statusCode, text };
      }

      async function login(g: number, user: number): Promise<void> {
        logins++;
        const r = await call(g, 'POST', '/login', { 'content-type': 'application/json' }, JSON.stringify({ user: `u${user}` }));
        if (r.status !== 200) throw new Error(`login ${r.status} ${r.text.slice(0, 200)}`);
        tokens[g][user] = JSON.parse(r.text).data.token;
      }

      // Every user logs in on each gateway: sessions are shared through Redis either way.
      await Promise.all(gateways.flatMap((_, g) => Array.from({ length: USERS }, (_, u) => login(g, u))));

      async function fire(i: number, startedAt: number): Promise<void> {
        const g = i % gateways.length;
        const phase = Math.floor((performance.now() - startedAt) / PHASE_MS);
        const client = `p${phase}-k${(i >> 1) % KEYS_PER_PHASE}`;
        try {
          if (i % 97 === 13) {
            await login(g, i % USERS);
            return;
          }
          const route = i % 10 === 0 ? 'public' : 'data';
          const headers: Record<string, string> = { 'x-client': client };
          // A token issued by either process works on both: the session record lives in Redis.
          if (route === 'data') headers.authorization = `Bearer ${tokens[(g + (i >> 3)) % gateways.length][i % USERS]}`;
          const r = await call(g, 'GET', route === 'data' ? '/api/data' : '/public', headers);
          const key = `${route}|${client}`;
          const t = tallies.get(key) ?? { ok: 0, limited: 0 };
          if (r.status === 200) t.ok++;
          else if (r.status === 429) t.limited++;
          else errors.push(`${route} ${r.status} ${r.text.slice(0, 120)}`);
          tallies.set(key, t);
        } catch (err) {
          errors.push(`request ${i}: ${(err as Error).message}`);
        }
      }

      // Steady rate. RSS is read once a second as it is (on V8's sawtooth: old space grows for tens of
      // seconds between major GCs) and every 3 s right after a full GC, at the floor a leak would raise.
      const rss: { t: number; kib: number[] }[] = [];
      const floors: { t: number; kib: number[] }[] = [];

      const startedAt = performance.now();
      const endAt = startedAt + SECONDS * 1000;
      const inflight = new Set<Promise<void>>();
      let nextSample = startedAt;
      while (performance.now() < endAt) {
        const due = Math.floor(((performance.now() - startedAt) / 1000) * RPS);
        while (sent < due) {
          const p = fire(sent++, startedAt);
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
        }
        if (performance.now() >= nextSample) {
          nextSample += 1_000;
          const t = performance.now() - startedAt;
          rss.push({ t, kib: await Promise.all(gateways.map((g) => rssKiB(g.pid))) });
          if (rss.length % 3 === 0) {
            for (const g of gateways) process.kill(g.pid, 'SIGUSR2');
            void new Promise((r) => setTimeout(r, 200))
              .then(() => Promise.all(gateways.map((g) => rssKiB(g.pid))))
              .then((kib) => floors.push({ t, kib }));
          }
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(inflight);
      const elapsed = (performance.now() - startedAt) / 1000;
      await Promise.all(pools.map((p) => p.close()));

      // Rate limits: per key, exactly the limit admitted across both processes, and Redis agrees.
      let mismatches = 0;
      let admitted = 0;
      let denied = 0;
      const stale: string[] = [];
      for (const [key, t] of tallies) {
        const [route, client] = key.split('|');
        const limit = LIMITS[route as keyof typeof LIMITS];
        const attempts = t.ok + t.limited;
        admitted += t.ok;
        denied += t.limited;
        if (t.ok !== Math.min(limit, attempts)) {
          mismatches++;
          stale.push(`${key}: ${t.ok} admitted of ${attempts}, limit ${limit}`);
        }
        const [stored] = await admin.keys(`rl:${route}:0*:h:x-client:${client}`);
        const state = stored === undefined ? null : await admin.get(stored);
        const counted = state === null ? 0 : Number(state.split(':')[1]);
        if (counted !== t.ok) {
          mismatches++;
          stale.push(`${key}: Redis counted ${counted}, ${t.ok} admitted`);
        }
      }

      // Memory: after warm-up, the post-GC floor's median over the last third against the first third.
      await new Promise((r) => setTimeout(r, 300));
      const after = floors.filter((s) => s.t >= WARMUP_MS);
      const third = Math.max(1, Math.floor(after.length / 3));
      const drift = gateways.map((_, g) => {
        const first = median(after.slice(0, third).map((s) => s.kib[g]));
        const last = median(after.slice(-third).map((s) => s.kib[g]));
        const raw = rss.filter((s) => s.t >= WARMUP_MS).map((s) => s.kib[g]);
        return {
          firstKiB: first,
          lastKiB: last,
          driftPct: Number((((last - first) / first) * 100).toFixed(2)),
          rawMinKiB: Math.min(...raw),
          rawMaxKiB: Math.max(...raw),
        };
      });
      const loggedErrors = gateways.map(
        (g) =>
          g
            .output()
            .split('\n')
            .filter((l) => l.includes('"level":"error"')).length,
      );

      const figures = {
        seconds: SECONDS,
        targetRps: RPS,
        achievedRps: Number((sent / elapsed).toFixed(1)),
        requests: sent + USERS * gateways.length,
        logins: logins,
        byStatus,
        errors: errors.length,
        loggedErrors,
        rateLimitKeys: tallies.size,
        admitted,
        denied,
        mismatches,
        rss: drift,
        rssSamples: rss.length,
        floorSamples: floors.length,
        floorSeriesMiB: gateways.map((_, g) => floors.map((x) => Math.round(x.kib[g] / 1024))),
      };
      await recordFigures('soak', figures);
      console.log(`soak: ${JSON.stringify(figures)}`);

      expect(errors.slice(0, 10), 'unexpected errors').toEqual([]);
      expect(loggedErrors, 'errors the gateways logged').toEqual([0, 0]);
      expect(stale.slice(0, 10), 'rate-limit counts').toEqual([]);
      // Not a speed claim: only that the load really ran (a loaded CI machine may lag the pacer).
      expect(sent, 'requests sent').toBeGreaterThan(RPS * elapsed * 0.5);
      expect(after.length, 'post-GC RSS samples after warm-up').toBeGreaterThanOrEqual(3);
      for (const d of drift) expect(Math.abs(d.driftPct), `RSS drift ${JSON.stringify(d)}`).toBeLessThanOrEqual(10);
    },
    (SECONDS + 90) * 1000,
  );
});
