// createStore and the store schema: which backend a config builds, what it reads from the environment,
// and the errors a misconfiguration gets. The Upstash store's wire format is checked with a stub fetch.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.ts';
import { StoreError } from '../../src/errors.ts';
import { createStore, type RedisStoreConfig } from '../../src/store/create.ts';
import { storeSchema } from '../../src/store/schema.ts';
import { type Command, get, type Store, set } from '../../src/store/store.ts';
import { upstashStore } from '../../src/store/upstash.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A fetch that records requests and answers from `reply`. */
function stubFetch(reply: (body: unknown, url: string) => Response | Promise<Response>) {
  const seen: { url: string; headers: Headers; body: unknown }[] = [];
  const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body));
    const url = String(input);
    seen.push({ url, headers: new Headers(init?.headers), body });
    return reply(body, url);
  }) as typeof fetch;
  return { fetch: fn, seen };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('createStore', () => {
  it('builds the bounded memory store by default, on the injected clock', async () => {
    let now = 1_000;
    const store = createStore(storeSchema.parse(undefined), {}, { now: () => now });
    expect(store.kind).toBe('memory');
    await set(store, 'k', 'v', 100);
    now += 101;
    expect(await get(store, 'k')).toBeNull();
  });

  it('builds the Upstash store from UPSTASH_REDIS_REST_URL / _TOKEN and uses the injected fetch', async () => {
    const { fetch, seen } = stubFetch(() => json(200, [{ result: b64('from upstash') }]));
    const env = { UPSTASH_REDIS_REST_URL: 'https://eu1-example.upstash.io/', UPSTASH_REDIS_REST_TOKEN: 'env-token' };
    const store = createStore(storeSchema.parse({ type: 'upstash' }), env, { fetch });
    expect(store.kind).toBe('upstash');
    expect(await get(store, 'k')).toBe('from upstash');
    expect(seen).toHaveLength(1);
    expect(seen[0].url).toBe('https://eu1-example.upstash.io/pipeline');
    expect(seen[0].body).toEqual([['get', 'k']]);
    expect(seen[0].headers.get('authorization')).toBe('Bearer env-token');
    expect(seen[0].headers.get('upstash-encoding')).toBe('base64');
    // No telemetry.
    expect([...seen[0].headers.keys()].filter((h) => h.startsWith('upstash-telemetry'))).toEqual([]);
  });

  it('prefers the config over the environment', async () => {
    const { fetch, seen } = stubFetch(() => json(200, [{ result: null }]));
    const env = { UPSTASH_REDIS_REST_URL: 'https://env.example', UPSTASH_REDIS_REST_TOKEN: 'env-token' };
    const config = storeSchema.parse({ type: 'upstash', url: 'https://config.example', token: 'config-token', timeout: '250ms' });
    const store = createStore(config, env, { fetch });
    await get(store, 'k');
    expect(seen[0].url).toBe('https://config.example/pipeline');
    expect(seen[0].headers.get('authorization')).toBe('Bearer config-token');
  });

  it('names every missing Upstash setting', () => {
    const err = (() => {
      try {
        createStore(storeSchema.parse({ type: 'upstash' }), { UPSTASH_REDIS_REST_TOKEN: '  ' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      expect.stringContaining('UPSTASH_REDIS_REST_URL'),
      expect.stringContaining('UPSTASH_REDIS_REST_TOKEN'),
    ]);
  });

  it('rejects a token that cannot travel in a header, without echoing it', () => {
    const config = storeSchema.parse({ type: 'upstash', url: 'https://x.example', token: 'sécret token' });
    expect(() => createStore(config, {})).toThrow(ConfigError);
    expect(() => createStore(config, {})).not.toThrow(/sécret/);
  });

  it('delegates "redis" to the injected factory, and explains when there is none', () => {
    const config = storeSchema.parse({ type: 'redis', url: 'redis://127.0.0.1:6390/2', timeout: '2s' });
    expect(() => createStore(config, {})).toThrow(/Node adapter/);
    let received: RedisStoreConfig | undefined;
    const fake = { kind: 'redis', batch: async () => [], close: async () => {} } as unknown as Store;
    expect(
      createStore(
        config,
        {},
        {
          redis: (cfg) => {
            received = cfg;
            return fake;
          },
        },
      ),
    ).toBe(fake);
    expect(received).toEqual({ type: 'redis', url: 'redis://127.0.0.1:6390/2', timeout: 2000 });
  });
});

describe('store schema', () => {
  it('accepts the original fields and URLs', () => {
    expect(storeSchema.parse({ type: 'redis', host: 'cache', port: '6380', auth: 'pw', db: '3', tls: true })).toEqual({
      type: 'redis',
      host: 'cache',
      port: 6380,
      auth: 'pw',
      db: 3,
      tls: true,
      timeout: 1000,
    });
    expect(storeSchema.parse({ type: 'redis', url: 'rediss://:pw@cache:6380/1' }).type).toBe('redis');
  });

  it('rejects wrong schemes and url together with host', () => {
    expect(storeSchema.safeParse({ type: 'redis', url: 'http://cache:6379' }).success).toBe(false);
    expect(storeSchema.safeParse({ type: 'redis', url: 'redis://a', host: 'b' }).success).toBe(false);
    expect(storeSchema.safeParse({ type: 'upstash', url: 'redis://a' }).success).toBe(false);
  });
});

describe('upstash store against a stub', () => {
  const options = { url: 'https://stub.example', token: 'stub-token', timeoutMs: 200 };

  it('maps HTTP failures to StoreError reasons without leaking the token or the command', async () => {
    const cases: [Response | Error, StoreError['reason']][] = [
      [json(401, { error: 'Unauthorized' }), 'error'],
      [json(400, { error: 'ERR max request size exceeded' }), 'error'],
      [json(429, { error: 'ERR max daily request limit exceeded' }), 'unavailable'],
      [json(503, { error: 'busy' }), 'unavailable'],
      [new Response('<html>bad gateway</html>', { status: 502 }), 'unavailable'],
      [new TypeError('fetch failed'), 'unavailable'],
      [json(200, { not: 'a pipeline reply' }), 'error'],
    ];
    for (const [answer, reason] of cases) {
      const { fetch } = stubFetch(() => {
        if (answer instanceof Error) throw answer;
        return answer.clone();
      });
      const err = await upstashStore({ ...options, fetch })
        .batch([{ op: 'set', key: 'session:secret-key', value: 'secret-value' }] as const)
        .catch((e) => e);
      expect(err, String(answer)).toBeInstanceOf(StoreError);
      expect((err as StoreError).reason, String(answer instanceof Error ? answer : answer.status)).toBe(reason);
      expect((err as StoreError).message).not.toMatch(/stub-token|secret-key|secret-value/);
    }
  });

  it('times out a request that never answers, aborting it', async () => {
    let aborted = false;
    const fetch = ((_: unknown, init?: RequestInit) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => {
          aborted = true;
          reject(init.signal?.reason);
        });
      })) as typeof globalThis.fetch;
    const start = performance.now();
    const err = await upstashStore({ ...options, fetch })
      .batch([{ op: 'get', key: 'k' }] as const)
      .catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).reason).toBe('timeout');
    expect(performance.now() - start).toBeLessThan(600);
    expect(aborted).toBe(true);
  });

  it('sends one pipeline per batch, EVAL first, then EVALSHA, and only NOSCRIPT commands again', async () => {
    const { defineScript } = await import('../../src/store/store.ts');
    const script = defineScript('stub', 'return 1', () => 1);
    const sha = await script.sha1;
    let flushed = false;
    const { fetch, seen } = stubFetch((body) => {
      const commands = body as (string | number)[][];
      return json(
        200,
        commands.map((c) => {
          if (c[0] === 'evalsha' && flushed) return { error: 'NOSCRIPT No matching script. Please use EVAL.' };
          if (c[0] === 'eval' || c[0] === 'evalsha') return { result: 1 };
          if (c[0] === 'incrby') return { result: 7 };
          return { result: 'OK' };
        }),
      );
    });
    const store = upstashStore({ ...options, fetch });
    const batch: Command[] = [
      { op: 'eval', script, keys: ['a'], args: ['x'] },
      { op: 'incrby', key: 'n', by: 7 },
      { op: 'set', key: 's', value: 'v', ttlMs: 1500.2, nx: true },
    ];
    expect(await store.batch(batch)).toEqual([1, 7, true]);
    expect(await store.batch(batch)).toEqual([1, 7, true]);
    flushed = true;
    expect(await store.batch(batch)).toEqual([1, 7, true]);
    expect(seen.map((s) => s.url.replace(options.url, ''))).toEqual(['/pipeline', '/pipeline', '/pipeline', '/pipeline']);
    expect(seen.map((s) => s.body)).toEqual([
      [
        ['eval', 'return 1', 1, 'a', 'x'],
        ['incrby', 'n', 7],
        ['set', 's', 'v', 'nx', 'px', 1501],
      ],
      [
        ['evalsha', sha, 1, 'a', 'x'],
        ['incrby', 'n', 7],
        ['set', 's', 'v', 'nx', 'px', 1501],
      ],
      [
        ['evalsha', sha, 1, 'a', 'x'],
        ['incrby', 'n', 7],
        ['set', 's', 'v', 'nx', 'px', 1501],
      ],
      [['eval', 'return 1', 1, 'a', 'x']],
    ]);
  });
});
