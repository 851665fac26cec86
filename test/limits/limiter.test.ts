// createLimiter end to end on the memory store: keys and fallbacks, headers, denial, deny cache, failure policy and breaker.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.ts';
import type { RequestContext } from '../../src/context.ts';
import { GatewayError, StoreError } from '../../src/errors.ts';
import { createBreaker } from '../../src/limits/breaker.ts';
import { createDenyCache } from '../../src/limits/deny-cache.ts';
import { problemFor, QUOTA_EXCEEDED_TYPE } from '../../src/limits/headers.ts';
import { createLimiter, type LimiterConfig, type LimiterEvent, type RouteLimiter } from '../../src/limits/limiter.ts';
import { type Limit, type LimitInput, type LimitsConfigInput, limitSchema, limitsSchema } from '../../src/limits/schema.ts';
import { memoryStore } from '../../src/store/memory.ts';
import type { Command, Store } from '../../src/store/store.ts';

/** Aligned to an hour, so fixed windows reset at round numbers. */
const T0 = 1_700_002_800_000;

const limit = (l: LimitInput): Limit => limitSchema.parse(l);

function ctxFor(o: { ip?: string; headers?: Record<string, string>; params?: Record<string, string>; sub?: string } = {}): RequestContext {
  const request = new Request('http://gw.test/x', { headers: o.headers });
  return {
    request,
    url: new URL(request.url),
    routeIndex: 0,
    params: o.params ?? {},
    ip: o.ip ?? '192.0.2.1',
    requestId: 'r',
    now: 0,
    identity: o.sub === undefined ? undefined : { sub: o.sub, claims: {} },
    upstreamHeaders: new Headers(),
    responseHeaders: new Headers(),
  };
}

/** The gateway's runSteps for one step: one batch, then apply; fail on a store error. */
async function send(route: RouteLimiter, store: Store, ctx: RequestContext = ctxFor()): Promise<GatewayError | 'ok'> {
  try {
    const step = route.step(ctx);
    if (step.commands.length === 0) {
      await step.apply([]);
      return 'ok';
    }
    let results: readonly unknown[];
    try {
      results = await store.batch(step.commands);
    } catch (err) {
      step.fail(err as StoreError);
      return 'ok';
    }
    await step.apply(results);
    return 'ok';
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/** A store that counts its round trips, optionally failing them. */
function counting(inner: Store) {
  const wrapper = {
    calls: 0,
    failing: false,
    kind: inner.kind,
    async batch<const C extends readonly Command[]>(commands: C) {
      wrapper.calls++;
      if (wrapper.failing) throw new StoreError('unavailable', 'test: store down');
      return inner.batch(commands);
    },
    close: () => inner.close(),
  };
  return wrapper;
}

function setup(routeLimits: LimitInput[] | undefined, settings: LimitsConfigInput = {}, path = '/x') {
  let clock = T0;
  const events: LimiterEvent[] = [];
  const config: LimiterConfig = {
    limits: limitsSchema.parse(settings),
    routes: [{ method: 'GET', path, limits: routeLimits?.map(limit) }],
  };
  const limiter = createLimiter(config, { now: () => clock, log: (e) => events.push(e) });
  const store = counting(memoryStore({ now: () => clock }));
  return {
    limiter,
    route: limiter.forRoute(0) as RouteLimiter,
    store,
    events,
    tick: (ms: number) => (clock += ms),
  };
}

describe('keys', () => {
  const original: LimitInput = { algorithm: 'fixed-window', limit: 2, window: '60s', key: [{ header: 'token' }, 'ip'] };

  it('"120 per 60s by token, else by IP": the first key present wins', async () => {
    const { route, store } = setup([original]);
    const withToken = ctxFor({ ip: '198.51.100.7', headers: { token: 'abc' } });
    expect(route.step(withToken).commands[0]).toMatchObject({ keys: ['rl:GET /x:01:h:token:abc'] });
    expect(route.step(ctxFor({ ip: '198.51.100.7' })).commands[0]).toMatchObject({ keys: ['rl:GET /x:01:ip:198.51.100.7'] });

    // Separate quotas: the token's two, then the IP's two.
    expect(await send(route, store, withToken)).toBe('ok');
    expect(await send(route, store, withToken)).toBe('ok');
    expect(await send(route, store, withToken)).toBeInstanceOf(GatewayError);
    expect(await send(route, store, ctxFor({ ip: '198.51.100.7' }))).toBe('ok');
  });

  it('every key kind, and limits without a key in this request are skipped', () => {
    const { route } = setup(
      [
        { algorithm: 'gcra', limit: 10, window: '1s', key: 'user' },
        { algorithm: 'gcra', limit: 10, window: '1s', key: { param: 'id' } },
        { algorithm: 'sliding-window', limit: 100, window: '1h', key: 'global' },
        { algorithm: 'token-bucket', limit: 10, window: '1s', key: { header: 'X-Api-Key' } },
      ],
      {},
      '/users/:id',
    );
    const all = route.step(ctxFor({ sub: 'u1', params: { id: '42' }, headers: { 'x-api-key': 'k' } })).commands[0];
    expect(all).toMatchObject({
      keys: ['rl:GET /users/:id:04:u:u1', 'rl:GET /users/:id:14:p:id:42', 'rl:GET /users/:id:22:g', 'rl:GET /users/:id:33:h:x-api-key:k'],
      args: [
        '',
        '4',
        '10',
        '1000',
        '10',
        '1',
        '4',
        '10',
        '1000',
        '10',
        '1',
        '2',
        '100',
        '3600000',
        '100',
        '1',
        '3',
        '10',
        '1000',
        '10',
        '1',
      ],
    });
    // Anonymous, no API key: only the param and global limits apply, with only their args.
    const some = route.step(ctxFor({ params: { id: '42' } })).commands[0];
    expect(some).toMatchObject({
      keys: ['rl:GET /users/:id:14:p:id:42', 'rl:GET /users/:id:22:g'],
      args: ['', '4', '10', '1000', '10', '1', '2', '100', '3600000', '100', '1'],
    });
  });

  it('a request with no key for any limit makes no store call', () => {
    const { route } = setup([{ algorithm: 'gcra', limit: 1, window: '1s', key: 'user' }]);
    expect(route.step(ctxFor()).commands).toEqual([]);
  });

  it('defaults apply to routes without limits and are shared by them; [] opts out', async () => {
    let clock = T0;
    const limiter = createLimiter(
      {
        limits: limitsSchema.parse({ default: [{ algorithm: 'fixed-window', limit: 2, window: '60s', key: 'ip' }] }),
        routes: [
          { method: 'GET', path: '/a' },
          { method: ['GET', 'POST'], path: '/b' },
          { method: 'GET', path: '/c', limits: [] },
          { method: 'GET', path: '/d', name: 'dee', limits: [limit({ algorithm: 'gcra', limit: 5, window: '1s', key: 'ip' })] },
        ],
      },
      { now: () => clock },
    );
    const store = memoryStore({ now: () => clock });
    const a = limiter.forRoute(0) as RouteLimiter;
    const b = limiter.forRoute(1) as RouteLimiter;
    expect(a.step(ctxFor()).commands[0]).toMatchObject({ keys: ['rl:*:01:ip:192.0.2.1'] });
    expect(limiter.forRoute(2)).toBeUndefined();
    expect(limiter.forRoute(3)?.name).toBe('dee');
    expect(b.name).toBe('GET,POST /b');
    expect(await send(a, store)).toBe('ok');
    expect(await send(b, store)).toBe('ok');
    expect(await send(a, store)).toBeInstanceOf(GatewayError);
    clock += 60_000;
    expect(await send(b, store)).toBe('ok');
  });

  it('no limits and no default: no limiter for the route', () => {
    const limiter = createLimiter({ routes: [{ method: 'GET', path: '/' }] }, { now: Date.now });
    expect(limiter.forRoute(0)).toBeUndefined();
  });

  it('start-up rejects a param the route path lacks, and duplicate policy names', () => {
    const build = () =>
      createLimiter(
        {
          routes: [
            {
              method: 'GET',
              path: '/users/:id',
              limits: [
                limit({ algorithm: 'gcra', limit: 1, window: '1s', key: { param: 'uid' }, name: 'a' }),
                limit({ algorithm: 'gcra', limit: 1, window: '1s', key: 'ip', name: 'a' }),
              ],
            },
          ],
        },
        { now: Date.now },
      );
    expect(build).toThrow(ConfigError);
    expect(thrown(build)).toMatchObject({
      problems: [
        'routes[0].limits[0].key: uses param "uid", which the route path /users/:id does not define',
        'routes[0].limits[1].name: expected a name unique within the route, received "a"',
      ],
    });
  });
});

describe('headers (draft-ietf-httpapi-ratelimit-headers-10)', () => {
  it('allowed: one named policy per limit, and the current remaining and reset', async () => {
    const { route, store, tick } = setup([
      { algorithm: 'fixed-window', limit: 120, window: '60s', key: 'ip' },
      { algorithm: 'gcra', limit: 10, window: '1s', burst: 5, key: 'ip', name: 'burst' },
    ]);
    tick(15_000);
    const ctx = ctxFor();
    expect(await send(route, store, ctx)).toBe('ok');
    expect(ctx.responseHeaders.get('ratelimit-policy')).toBe('"120-per-1m";q=120;w=60, "burst";q=10;w=1');
    expect(ctx.responseHeaders.get('ratelimit')).toBe('"120-per-1m";r=119;t=45, "burst";r=4;t=1');
  });

  it('denied: 429 with the original code, Retry-After and both fields; nothing consumed', async () => {
    const { route, store, tick } = setup([
      { algorithm: 'fixed-window', limit: 120, window: '60s', key: 'ip' },
      { algorithm: 'token-bucket', limit: 1, window: '10s', burst: 2, key: 'ip', name: 'slow' },
    ]);
    expect(await send(route, store)).toBe('ok');
    expect(await send(route, store)).toBe('ok');
    tick(2_500);
    const err = (await send(route, store)) as GatewayError;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.status).toBe(429);
    expect(err.toJSON()).toEqual({ code: 99998, message: 'Over rate limit' });
    expect(err.headers).toEqual({
      'retry-after': '8',
      'ratelimit-policy': '"120-per-1m";q=120;w=60, "slow";q=1;w=10',
      // The fixed window admitted it but was not charged: still 118.
      ratelimit: '"120-per-1m";r=118;t=58, "slow";r=0;t=18',
    });
  });

  it('headers: false leaves only Retry-After', async () => {
    const { route, store } = setup([{ algorithm: 'fixed-window', limit: 1, window: '60s', key: 'ip' }], { headers: false });
    const ctx = ctxFor();
    expect(await send(route, store, ctx)).toBe('ok');
    expect([...ctx.responseHeaders]).toEqual([]);
    expect(((await send(route, store)) as GatewayError).headers).toEqual({ 'retry-after': '60' });
  });

  it('problemFor renders the quota-exceeded problem type when the client asks for it', async () => {
    const { route, store } = setup([
      { algorithm: 'fixed-window', limit: 1, window: '60s', key: 'ip', name: 'minute' },
      { algorithm: 'fixed-window', limit: 5, window: '1h', key: 'ip', name: 'hour' },
    ]);
    await send(route, store);
    const err = (await send(route, store)) as GatewayError;
    const asks = ctxFor({ headers: { accept: 'application/json;q=0.5, application/problem+json' } });
    const res = problemFor(asks, err) as Response;
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('retry-after')).toBe('60');
    expect(res.headers.get('ratelimit')).toBe('"minute";r=0;t=60, "hour";r=4;t=3600');
    expect(await res.json()).toEqual({
      type: QUOTA_EXCEEDED_TYPE,
      title: 'Request cannot be satisfied as assigned quota has been exceeded',
      status: 429,
      code: 99998,
      message: 'Over rate limit',
      'violated-policies': ['minute'],
    });
    expect(problemFor(ctxFor({ headers: { accept: 'application/json' } }), err)).toBeUndefined();
    expect(problemFor(ctxFor({ headers: { accept: 'application/problem+json;q=0' } }), err)).toBeUndefined();
    expect(problemFor(asks, new GatewayError('forbidden'))).toBeUndefined();
  });
});

describe('deny cache', () => {
  it('a denied identity makes no store call until its retry time, then asks again', async () => {
    const { route, store, tick, limiter } = setup([{ algorithm: 'fixed-window', limit: 2, window: '10s', key: 'ip' }]);
    await send(route, store);
    await send(route, store);
    expect(await send(route, store)).toBeInstanceOf(GatewayError);
    expect(store.calls).toBe(3);
    tick(1_000);
    for (let i = 0; i < 50; i++) {
      const err = (await send(route, store)) as GatewayError;
      expect(err.kind).toBe('overRateLimit');
      expect(err.headers?.['retry-after']).toBe('9');
      expect(err.headers?.ratelimit).toBe('"2-per-10s";r=0;t=9');
    }
    expect(store.calls).toBe(3);
    expect(limiter.stats.deniedLocally).toBe(50);
    // Another identity is not affected.
    expect(await send(route, store, ctxFor({ ip: '192.0.2.2' }))).toBe('ok');
    expect(store.calls).toBe(4);
    tick(8_999);
    expect(await send(route, store)).toBeInstanceOf(GatewayError);
    expect(store.calls).toBe(4);
    tick(1);
    expect(await send(route, store)).toBe('ok');
    expect(store.calls).toBe(5);
  });

  it('denyCache: false asks the store every time', async () => {
    const { route, store } = setup([{ algorithm: 'fixed-window', limit: 1, window: '10s', key: 'ip' }], { denyCache: false });
    for (let i = 0; i < 5; i++) await send(route, store);
    expect(store.calls).toBe(5);
  });

  it('is bounded: the oldest entry goes first', () => {
    const cache = createDenyCache(3);
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, { until: 100, resetAt: 100, remaining: 0 });
    expect(cache.size).toBe(3);
    expect(cache.get('k6', 0)).toBeUndefined();
    expect(cache.get('k9', 0)).toBeDefined();
    expect(cache.get('k9', 100)).toBeUndefined();
    expect(cache.size).toBe(2);
  });
});

describe('failure policy and breaker', () => {
  it('fails open by default: allowed, counted, logged', async () => {
    const { route, store, limiter, events } = setup([{ algorithm: 'gcra', limit: 1, window: '1s', key: 'ip' }]);
    store.failing = true;
    const ctx = ctxFor();
    expect(await send(route, store, ctx)).toBe('ok');
    expect(ctx.responseHeaders.has('ratelimit')).toBe(false);
    expect(limiter.stats.failedOpen).toBe(1);
    expect(events).toEqual([{ type: 'fail-open', route: 'GET /x', reason: 'unavailable' }]);
  });

  it('fails closed with 503 when the settings or any applying limit say so', async () => {
    const global = setup([{ algorithm: 'gcra', limit: 1, window: '1s', key: 'ip' }], { failure: { policy: 'closed' } });
    global.store.failing = true;
    const err = (await send(global.route, global.store)) as GatewayError;
    expect(err.kind).toBe('storeUnavailable');
    expect(err.status).toBe(503);

    const mixed = setup([
      { algorithm: 'gcra', limit: 1, window: '1s', key: 'ip' },
      { algorithm: 'gcra', limit: 1, window: '1s', key: 'user', failure: 'closed' },
    ]);
    mixed.store.failing = true;
    expect(await send(mixed.route, mixed.store)).toBe('ok'); // the closed limit has no key here
    expect(((await send(mixed.route, mixed.store, ctxFor({ sub: 'u' }))) as GatewayError).kind).toBe('storeUnavailable');
    expect(mixed.limiter.stats).toMatchObject({ failedOpen: 1, failedClosed: 1 });
  });

  it("a reply that is not the script's counts as a store failure", async () => {
    const { route, limiter } = setup([{ algorithm: 'gcra', limit: 1, window: '1s', key: 'ip' }]);
    const step = route.step(ctxFor());
    await step.apply(['OK']);
    expect(limiter.stats.failedOpen).toBe(1);
  });

  it('opens after repeated failures, skips the store for the cool-down, probes once, closes on success', async () => {
    const { route, store, limiter, tick, events } = setup([{ algorithm: 'gcra', limit: 100, window: '1s', key: 'ip' }], {
      failure: { breaker: { failures: 3, cooldown: '5s' } },
    });
    store.failing = true;
    for (let i = 0; i < 3; i++) await send(route, store);
    expect(store.calls).toBe(3);
    expect(limiter.breakerOpen()).toBe(true);
    for (let i = 0; i < 20; i++) expect(await send(route, store)).toBe('ok');
    expect(store.calls).toBe(3); // no calls while open
    expect(route.step(ctxFor()).commands).toEqual([]);

    tick(5_000);
    await send(route, store); // the probe fails: open again for another cool-down
    expect(store.calls).toBe(4);
    expect(limiter.breakerOpen()).toBe(true);
    tick(4_999);
    await send(route, store);
    expect(store.calls).toBe(4);

    tick(1);
    store.failing = false;
    const ctx = ctxFor();
    expect(await send(route, store, ctx)).toBe('ok');
    expect(ctx.responseHeaders.get('ratelimit')).toBe('"100-per-1s";r=99;t=1');
    expect(limiter.breakerOpen()).toBe(false);
    expect(limiter.stats.breakerTrips).toBe(1);
    expect(events.filter((e) => e.type.startsWith('breaker'))).toEqual([
      { type: 'breaker-open', cooldownMs: 5_000 },
      { type: 'breaker-closed' },
    ]);
  });

  it('an open breaker refuses fail-closed limits at once, without the store', async () => {
    const { route, store, limiter } = setup([{ algorithm: 'gcra', limit: 1, window: '1s', key: 'ip', failure: 'closed' }], {
      failure: { breaker: { failures: 1, cooldown: '5s' } },
    });
    store.failing = true;
    expect(((await send(route, store)) as GatewayError).kind).toBe('storeUnavailable');
    expect(thrown(() => route.step(ctxFor()))).toMatchObject({ kind: 'storeUnavailable' });
    expect(store.calls).toBe(1);
    expect(limiter.stats.failedClosed).toBe(2);
  });
});

describe('breaker logic', () => {
  it.each([
    // [events, expected isOpen after each]; f = failure, s = success, a = allow, t<n> = advance time
    ['f f', [false, false]],
    ['f f f', [false, false, true]],
    ['f f s f f', [false, false, false, false, false]],
    ['f f f t999 t1', [false, false, true, true, false]],
    ['f f f t1000 a', [false, false, true, false, true]],
    ['f f f t1000 a f t999 t1', [false, false, true, false, true, true, true, false]],
    ['f f f t1000 a s', [false, false, true, false, true, false]],
  ] as const)('%s', (script, expected) => {
    const b = createBreaker({ failures: 3, cooldownMs: 1_000 });
    let t = 0;
    const seen = script.split(' ').map((ev) => {
      if (ev === 'f') b.failure(t);
      else if (ev === 's') b.success();
      else if (ev === 'a') b.allow(t);
      else t += Number(ev.slice(1));
      return b.isOpen(t);
    });
    expect(seen).toEqual(expected);
  });

  it('lets exactly one probe through after the cool-down', () => {
    const b = createBreaker({ failures: 1, cooldownMs: 1_000 });
    b.failure(0);
    expect([b.allow(999), b.allow(1_000), b.allow(1_000), b.allow(1_999), b.allow(2_000)]).toEqual([false, true, false, false, true]);
  });
});
