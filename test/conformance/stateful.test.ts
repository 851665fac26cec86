// The stateful half of the conformance suite: rate limits and sessions on the Node adapter, workerd and
// Deno, all three on the Upstash store through the Redis REST bridge to one real redis-server.
// Secrets come the way production gives them: the session private key in EDGEGATE_SESSION_KEYS and
// the store in UPSTASH_REDIS_REST_URL / _TOKEN (the config names no store).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisRest, startRedisRest } from '../../adapters/node/redis-rest.ts';
import { keygen } from '../../src/session/keys.ts';
import { redisForSuite } from '../helpers/redis.ts';
import { type RunningRuntime, type RuntimeKind, startRuntime } from '../helpers/runtimes.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const RUNTIMES: RuntimeKind[] = ['node', 'workerd', 'deno'];
const TOKEN = `conformance-${randomUUID()}`;

const redis = await redisForSuite('conformance: rate limits and sessions on every runtime');

let api: TestUpstream;
let bridge: RedisRest;
let config: object;
let env: Record<string, string>;

beforeAll(async () => {
  if (redis === undefined) return;
  bridge = await startRedisRest({ redis: redis.url, token: TOKEN });
  const answer = echo('api');
  api = await startUpstream((req, res, body) => {
    if (req.url === '/login') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 0, data: { user_id: 42, role: 'editor' } }));
    } else answer(req, res, body);
  });
  const key = await keygen('ES256', 'conformance-1');
  config = {
    upstreams: { api: { targets: [{ url: api.url }] } },
    session: {
      issuer: 'https://edgegate.test',
      audience: 'api',
      // The private half arrives through EDGEGATE_SESSION_KEYS, merged by kid.
      keys: [{ kid: key.kid, alg: 'ES256', active: true }],
      identityHeaders: { sub: 'x-user-id', role: 'x-user-role' },
      claims: ['role'],
    },
    // Closed and generous: a slow store shows as 503 here instead of a silently admitted request.
    limits: { failure: { policy: 'closed', budget: '2s' } },
    routes: [
      {
        name: 'limited',
        path: '/limited',
        upstream: 'api',
        limits: [{ algorithm: 'fixed-window', limit: 3, window: '60s', key: { header: 'x-client' } }],
      },
      { path: '/login', method: 'POST', upstream: 'api', login: { userId: '/data/user_id', token: '/data/token' } },
      { path: '/me', upstream: 'api', auth: 'session' },
      { path: '/logout', method: 'POST', upstream: 'api', auth: 'session', logout: true },
    ],
  };
  env = {
    EDGEGATE_SESSION_KEYS: JSON.stringify([{ kid: key.kid, privateKey: key.privateKeyPem }]),
    UPSTASH_REDIS_REST_URL: bridge.url,
    UPSTASH_REDIS_REST_TOKEN: TOKEN,
  };
});

afterAll(async () => {
  await Promise.all([api?.close(), bridge?.close()]);
  await redis?.stop();
});

async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body.data.user_id).toBe(42);
  return body.data.token as string;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe.skipIf(redis === undefined).each(RUNTIMES)('%s', (kind) => {
  let rt: RunningRuntime;

  beforeAll(async () => {
    rt = await startRuntime(kind, config, { env });
  });

  afterAll(async () => {
    await rt?.close();
  });

  describe('rate limits', () => {
    it('admits up to the limit with RateLimit fields, then 429 with Retry-After', async () => {
      const client = { 'x-client': `${kind}-${randomUUID()}` };
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${rt.url}/limited`, { headers: client });
        expect(res.status, await res.text()).toBe(200);
        expect(res.headers.get('ratelimit-policy')).toContain('q=3');
        expect(res.headers.get('ratelimit')).toContain(`r=${2 - i}`);
      }
      const denied = await fetch(`${rt.url}/limited`, { headers: client });
      expect(denied.status).toBe(429);
      expect(Number(denied.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await denied.json()).code).toBe(99998);
    });

    it('counts each key on its own', async () => {
      const [a, b] = [`${kind}-${randomUUID()}`, `${kind}-${randomUUID()}`];
      for (let i = 0; i < 4; i++) await (await fetch(`${rt.url}/limited`, { headers: { 'x-client': a } })).body?.cancel();
      expect((await fetch(`${rt.url}/limited`, { headers: { 'x-client': a } })).status).toBe(429);
      expect((await fetch(`${rt.url}/limited`, { headers: { 'x-client': b } })).status).toBe(200);
    });
  });

  describe('sessions', () => {
    it('login returns a token; the session route gets the identity headers, never the client-sent ones', async () => {
      const token = await login(rt.url);
      const res = await fetch(`${rt.url}/me`, { headers: { ...bearer(token), 'x-user-id': 'forged' } });
      expect(res.status).toBe(200);
      const { headers } = await res.json();
      expect(headers['x-user-id']).toBe('42');
      expect(headers['x-user-role']).toBe('editor');
    });

    it('401 without a token and with a tampered one', async () => {
      const token = await login(rt.url);
      const none = await fetch(`${rt.url}/me`);
      expect(none.status).toBe(401);
      expect((await none.json()).code).toBe(99999);
      const [h, p, s] = token.split('.');
      const tampered = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
      expect((await fetch(`${rt.url}/me`, { headers: bearer(tampered) })).status).toBe(401);
    });

    it('logout revokes the session in the store', async () => {
      const token = await login(rt.url);
      expect((await fetch(`${rt.url}/me`, { headers: bearer(token) })).status).toBe(200);
      const out = await fetch(`${rt.url}/logout`, { method: 'POST', headers: bearer(token) });
      expect(out.status).toBe(200);
      await out.body?.cancel();
      expect((await fetch(`${rt.url}/me`, { headers: bearer(token) })).status).toBe(401);
    });

    it('publishes the public key set', async () => {
      const res = await fetch(`${rt.url}/.well-known/jwks.json`);
      expect(res.status).toBe(200);
      const { keys } = await res.json();
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(keys[0].d).toBeUndefined();
    });
  });
});

describe.skipIf(redis === undefined)('one store behind all three runtimes', () => {
  const running: RunningRuntime[] = [];

  beforeAll(async () => {
    for (const kind of RUNTIMES) running.push(await startRuntime(kind, config, { env }));
  });

  afterAll(async () => {
    await Promise.all(running.map((r) => r.close()));
  });

  it('shares one rate-limit count', async () => {
    const client = { 'x-client': `shared-${randomUUID()}` };
    for (const rt of running) expect((await fetch(`${rt.url}/limited`, { headers: client })).status).toBe(200);
    for (const rt of running) expect((await fetch(`${rt.url}/limited`, { headers: client })).status).toBe(429);
  });

  it('accepts a session issued by another runtime, and honours its logout everywhere', async () => {
    const [node, workerd, deno] = running;
    const token = await login(workerd.url);
    for (const rt of running) expect((await fetch(`${rt.url}/me`, { headers: bearer(token) })).status).toBe(200);
    expect((await fetch(`${deno.url}/logout`, { method: 'POST', headers: bearer(token) })).status).toBe(200);
    for (const rt of [node, workerd]) expect((await fetch(`${rt.url}/me`, { headers: bearer(token) })).status).toBe(401);
  });
});
