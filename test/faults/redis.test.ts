// Redis faults under a running gateway (Node adapter, Redis over TCP, a private redis-server): down at
// start, dying mid-run, frozen (SIGSTOP), and coming back. Rate limits follow their failure policy
// (open: let through; closed: 503 code 10013); sessions always fail closed (503 code 10013, never a
// pass); nothing hangs past the store timeout; and everything recovers without a restart.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Sessions } from '../../src/session/index.ts';
import { keygen } from '../../src/session/keys.ts';
import { type RunningGateway, startGateway } from '../helpers/gateway.ts';
import { redisForSuite } from '../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { recordFigures } from '../security/figures.ts';
import { faultCase, timed, until } from './harness.ts';

const redis = await redisForSuite('faults: Redis under a running gateway');
const restartable = redis?.restartable === true;
if (redis && !restartable) console.warn('!! faults: REDIS_URL is set, so Redis cannot be stopped; the Redis fault tests are skipped');

const STORE_TIMEOUT = 300;
const UNAVAILABLE = { code: 10013, message: 'Service unavailable' };
const survived: string[] = [];
const counts = { requests: 0, failedOpen: 0, failedClosed: 0 };

let upstream: TestUpstream;
let key: Awaited<ReturnType<typeof keygen>>;

function config() {
  return {
    store: { type: 'redis' as const, url: redis!.url, timeout: STORE_TIMEOUT },
    limits: { failure: { policy: 'open' as const, budget: '200ms', breaker: { failures: 3, cooldown: '500ms' } } },
    upstreams: { api: { targets: [{ url: upstream.url }] } },
    session: { keys: [{ kid: 'k', alg: 'ES256' as const, privateKey: key.privateKeyPem }], issuer: 'https://faults.test', audience: 'api' },
    routes: [
      {
        path: '/open',
        upstream: 'api',
        limits: [{ algorithm: 'fixed-window' as const, limit: 100_000, window: '1h', key: 'ip' as const }],
      },
      {
        path: '/closed',
        upstream: 'api',
        limits: [{ algorithm: 'gcra' as const, limit: 100_000, window: '1h', key: 'ip' as const, failure: 'closed' as const }],
      },
      { path: '/me', upstream: 'api', auth: 'session' as const },
      {
        method: 'POST' as const,
        path: '/login',
        upstream: 'api',
        rewrite: '/login',
        login: { userId: '/data/user_id', token: '/data/token' },
      },
    ],
  };
}

async function get(gw: RunningGateway, path: string, token?: string) {
  counts.requests++;
  return timed(`${gw.url}${path}`, token === undefined ? undefined : { headers: { authorization: `Bearer ${token}` } });
}

async function login(gw: RunningGateway) {
  counts.requests++;
  return timed(`${gw.url}/login`, { method: 'POST', body: '{}' });
}

/** What every route answers while Redis is unreachable: each within the store's bounds. */
async function expectDegraded(gw: RunningGateway, token: string): Promise<void> {
  const open = await get(gw, '/open');
  expect(open.status, 'a limit that fails open lets the request through').toBe(200);
  counts.failedOpen++;
  const closed = await get(gw, '/closed');
  expect(closed.status, 'a limit that fails closed refuses').toBe(503);
  expect(closed.body).toEqual(UNAVAILABLE);
  const me = await get(gw, '/me', token);
  expect(me.status, 'a session never passes without its record').toBe(503);
  expect(me.body).toEqual(UNAVAILABLE);
  const fresh = await login(gw);
  expect(fresh.status, 'no token is handed out that the store does not know').toBe(503);
  expect(fresh.body).toEqual(UNAVAILABLE);
  expect(fresh.text).not.toContain('token');
  counts.failedClosed += 3;
  for (const r of [open, closed, me, fresh]) expect(r.ms, 'nothing waits past the store timeout').toBeLessThan(STORE_TIMEOUT * 4);
}

async function recovered(gw: RunningGateway): Promise<number> {
  return until(async () => {
    const l = await login(gw);
    if (l.status !== 200) return false;
    const token = (l.body as { data: { token: string } }).data.token;
    return (await get(gw, '/closed')).status === 200 && (await get(gw, '/me', token)).status === 200;
  }, 10_000);
}

describe.skipIf(!restartable)('Redis faults under a running gateway', () => {
  let signer: Sessions;
  let token: string;
  const recoveries: Record<string, number> = {};

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url === '/login' ? { data: { user_id: 'u-1' } } : { ok: true }));
    });
    key = await keygen('ES256', 'k');
    // A token that passes lock 1 (our key, our claims) for a session Redis has never seen.
    const memory = await startGateway({ ...config(), store: { type: 'memory' } });
    signer = (await memory.gateway.sessions())!;
    token = (await signer.issue('u-1')).token;
    await memory.close();
  });

  afterAll(async () => {
    await upstream?.close();
    await redis?.stop();
    await recordFigures('faults-redis', { survived: survived.length, faults: survived, recoveryMs: recoveries, ...counts });
  });

  beforeEach(() => redis!.start());

  it('down at start: the gateway starts, limits follow their policy, sessions fail closed; all well once Redis starts', () =>
    faultCase(async () => {
      await redis!.stop();
      const gw = await startGateway(config());
      try {
        for (let i = 0; i < 5; i++) await expectDegraded(gw, token);
        await redis!.start();
        recoveries.downAtStart = await recovered(gw);
      } finally {
        await gw.close();
      }
      survived.push('Redis down at start');
    }));

  it('dying mid-run and coming back, under steady traffic: no hang, no pass, no restart', () =>
    faultCase(async () => {
      const gw = await startGateway(config());
      try {
        const l = await login(gw);
        expect(l.status).toBe(200);
        const live = (l.body as { data: { token: string } }).data.token;
        expect((await get(gw, '/me', live)).status).toBe(200);
        // Traffic in the background while Redis dies: every answer is one of the documented ones.
        let stop = false;
        const statuses = new Map<string, Set<number>>();
        const traffic = (async () => {
          while (!stop) {
            for (const path of ['/open', '/closed', '/me']) {
              const r = await get(gw, path, path === '/me' ? live : undefined);
              const set = statuses.get(path) ?? new Set();
              set.add(r.status);
              statuses.set(path, set);
            }
          }
        })();
        await new Promise((r) => setTimeout(r, 200));
        await redis!.stop();
        await new Promise((r) => setTimeout(r, 500));
        await expectDegraded(gw, live);
        await redis!.start();
        recoveries.midRun = await recovered(gw);
        stop = true;
        await traffic;
        expect([...statuses.get('/open')!]).toEqual([200]);
        expect([...statuses.get('/closed')!].sort()).toEqual([200, 503]);
        // 401 once Redis is back: this one keeps nothing on disk, so the session record died with it —
        // the session is closed, never open.
        expect([...statuses.get('/me')!].every((s) => [200, 401, 503].includes(s))).toBe(true);
        expect(statuses.get('/me')!.has(503)).toBe(true);
        expect((await get(gw, '/me', live)).status).toBe(401);
      } finally {
        await gw.close();
      }
      survived.push('Redis dies mid-run and comes back');
    }));

  it('frozen (SIGSTOP): requests fail within the store timeout instead of hanging; thawed, all is well', () =>
    faultCase(async () => {
      const gw = await startGateway(config());
      try {
        expect((await get(gw, '/closed')).status).toBe(200);
        redis!.signal('SIGSTOP');
        try {
          await expectDegraded(gw, token);
        } finally {
          redis!.signal('SIGCONT');
        }
        recoveries.frozen = await recovered(gw);
      } finally {
        await gw.close();
      }
      survived.push('Redis frozen (SIGSTOP) and thawed');
    }));
});
