// Faults on real servers: a wrong bridge token, a Redis that stops, hangs or comes back. Each store
// must settle with a StoreError within its timeout (asserted loosely: 3×), never hang, never leave an
// unhandled rejection (vitest fails the run on one), and recover without being recreated.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import net from 'node:net';
import { Redis as UpstashRedis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisRest, startRedisRest } from '../../adapters/node/redis-rest.ts';
import { redisStore } from '../../adapters/node/redis-store.ts';
import { StoreError } from '../../src/errors.ts';
import type { Store } from '../../src/store/store.ts';
import { upstashStore } from '../../src/store/upstash.ts';
import { redisForSuite, uniquePrefix } from '../helpers/redis.ts';

const redis = await redisForSuite('store faults');
if (redis && !redis.restartable) console.warn('!! store faults: REDIS_URL is set, so the restart and SIGSTOP tests are skipped');
const TOKEN = 'faults-token-8d1e4b';
const TIMEOUT = 300;

/** Runs a batch and reports how it settled and how long it took. */
async function attempt(store: Store, key: string): Promise<{ error?: unknown; value?: unknown; ms: number }> {
  const start = performance.now();
  try {
    const value = await store.batch([
      { op: 'incrby', key, by: 1 },
      { op: 'get', key },
    ] as const);
    return { value, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}

function expectStoreError(result: { error?: unknown; ms: number }, reasons: StoreError['reason'][], bound = 3 * TIMEOUT): void {
  expect(result.error, `settled with ${JSON.stringify(result)}`).toBeInstanceOf(StoreError);
  expect(reasons).toContain((result.error as StoreError).reason);
  expect(result.ms).toBeLessThan(bound);
}

/** Polls until the store answers again; returns how long that took. */
async function recovery(store: Store, key: string, limitMs = 10_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    const r = await attempt(store, key);
    if (r.error === undefined) return performance.now() - start;
    if (performance.now() - start > limitMs) throw new Error(`no recovery within ${limitMs} ms: ${String(r.error)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(!redis)('store faults', () => {
  let bridge: RedisRest;
  const p = uniquePrefix('faults');

  beforeAll(async () => {
    bridge = await startRedisRest({ redis: redis!.url, token: TOKEN });
  });
  afterAll(async () => {
    await bridge?.close();
    await redis?.stop();
  });

  it('answers a wrong or missing bridge token with 401, and the clients fail with an error', async () => {
    const command = JSON.stringify(['GET', `${p}x`]);
    for (const headers of [{ authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }, {}] as Record<string, string>[]) {
      const res = await fetch(bridge.url, { method: 'POST', headers, body: command });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'Unauthorized' });
    }
    // The documented `_token` query parameter works; a wrong one does not.
    expect((await fetch(`${bridge.url}/?_token=${TOKEN}`, { method: 'POST', body: command })).status).toBe(200);
    expect((await fetch(`${bridge.url}/?_token=nope`, { method: 'POST', body: command })).status).toBe(401);

    const store = upstashStore({ url: bridge.url, token: 'wrong-token', timeoutMs: TIMEOUT });
    const result = await attempt(store, `${p}x`);
    expectStoreError(result, ['error']);
    expect((result.error as StoreError).message).toContain('401');
    expect((result.error as StoreError).message).not.toContain('wrong-token');

    const stock = new UpstashRedis({ url: bridge.url, token: 'wrong-token', retry: false, enableTelemetry: false });
    await expect(stock.get(`${p}x`)).rejects.toThrow(/Unauthorized/);
  });

  it('times out against a Redis that accepts connections but never answers', async () => {
    // A TCP server that swallows everything: the TCP store waits for its handshake, then gives up.
    const sockets = new Set<net.Socket>();
    const blackhole = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    const port = (blackhole.address() as net.AddressInfo).port;
    // An HTTP server that never answers: the Upstash store aborts its request.
    const silent: HttpServer = createHttpServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;

    const tcp = redisStore({ host: '127.0.0.1', port, timeoutMs: TIMEOUT });
    const rest = upstashStore({ url: `http://127.0.0.1:${silentPort}`, token: TOKEN, timeoutMs: TIMEOUT });
    try {
      for (let i = 0; i < 2; i++) {
        const results = await Promise.all([attempt(tcp, 'k'), attempt(rest, 'k')]);
        for (const r of results) expectStoreError(r, ['timeout']);
      }
    } finally {
      await tcp.close();
      await rest.close();
      for (const s of sockets) s.destroy();
      silent.closeAllConnections();
      await new Promise((r) => blackhole.close(r));
      await new Promise((r) => silent.close(r));
    }
  });

  it('fails fast when nothing listens, including a store created while Redis is down', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const tcp = redisStore({ host: '127.0.0.1', port, timeoutMs: TIMEOUT });
    const rest = upstashStore({ url: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: TIMEOUT });
    try {
      for (let i = 0; i < 3; i++) {
        expectStoreError(await attempt(tcp, 'k'), ['unavailable', 'timeout']);
        expectStoreError(await attempt(rest, 'k'), ['unavailable']);
      }
    } finally {
      await tcp.close();
      await rest.close();
    }
  });

  it.skipIf(!redis?.restartable)('throws StoreError while Redis is down and recovers after a restart, same store objects', async () => {
    const tcp = redisStore({ url: redis!.url, timeoutMs: TIMEOUT });
    const rest = upstashStore({ url: bridge.url, token: TOKEN, timeoutMs: TIMEOUT });
    const key = `${p}restart`;
    try {
      expect((await attempt(tcp, key)).value).toEqual([1, '1']);
      expect((await attempt(rest, key)).value).toEqual([2, '2']);

      await redis!.stop();
      for (let i = 0; i < 3; i++) {
        const [a, b] = await Promise.all([attempt(tcp, key), attempt(rest, key)]);
        expectStoreError(a, ['unavailable', 'timeout']);
        expectStoreError(b, ['unavailable', 'timeout']);
      }
      // A store born during the outage fails the same way.
      const late = redisStore({ url: redis!.url, timeoutMs: TIMEOUT });
      expectStoreError(await attempt(late, key), ['unavailable', 'timeout']);

      await redis!.start();
      const [tcpMs, restMs, lateMs] = await Promise.all([recovery(tcp, key), recovery(rest, key), recovery(late, key)]);
      console.info(
        `recovered after restart: tcp ${tcpMs.toFixed(0)} ms, upstash via bridge ${restMs.toFixed(0)} ms, late ${lateMs.toFixed(0)} ms`,
      );
      // The restarted Redis is empty: the counter starts again, from whichever store got there first.
      const after = await tcp.batch([{ op: 'get', key }] as const);
      expect(Number(after[0])).toBeGreaterThanOrEqual(1);
      await late.close();
    } finally {
      await tcp.close();
      await rest.close();
    }
  });

  it.skipIf(!redis?.restartable)('times out while Redis is frozen (SIGSTOP) and carries on after SIGCONT', async () => {
    const tcp = redisStore({ url: redis!.url, timeoutMs: TIMEOUT });
    const rest = upstashStore({ url: bridge.url, token: TOKEN, timeoutMs: TIMEOUT });
    const key = `${p}frozen`;
    try {
      await recovery(tcp, key);
      await recovery(rest, key);
      redis!.signal('SIGSTOP');
      try {
        const [a, b] = await Promise.all([attempt(tcp, key), attempt(rest, key)]);
        expectStoreError(a, ['timeout']);
        expectStoreError(b, ['timeout']);
      } finally {
        redis!.signal('SIGCONT');
      }
      await recovery(tcp, key);
      await recovery(rest, key);
    } finally {
      await tcp.close();
      await rest.close();
    }
  });
});
