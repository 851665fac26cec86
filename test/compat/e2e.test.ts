// The drop-in, end to end: the original gateway's reference files (only ports rewritten), served by the
// real CLI over a real redis-server and four real upstreams weighted 10/2/2/4, walking the original's
// flows. The same suite runs twice: on the seed files (`serve --seed-config DIR`) and on the native
// config that `check --seed-config DIR` prints (`serve --config native.json`), which must behave the same.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { decodeJwt, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, redisForSuite } from '../helpers/redis.ts';
import { deadPort, startUpstream, type TestUpstream, type UpstreamHandler } from '../helpers/upstream.ts';
import { call, envelope, type KeyPair, removeDir, rsaKeyPair, runCli, type ServedGateway, seedDir, serveCli } from './helpers.ts';

const redis = await redisForSuite('seed compat end to end');

const PASSWORD = 'Passw0rd!';
const USER_ID = 'u-42';
const WEIGHTS = [10, 2, 2, 4];

describe.skipIf(!redis)('the original gateway, end to end', () => {
  let admin: Redis;
  let keys: KeyPair;
  let foreign: KeyPair;
  let upstreams: TestUpstream[];
  let slow: TestUpstream;
  const dirs: string[] = [];
  const dir = { main: '', down: '', slow: '' };

  /** A JWT as the original's user service signed it (jsonwebtoken: { user_id }, RS256, expiresIn = session.expire). */
  function sessionJwt(
    claims: Record<string, unknown>,
    options: { key?: CryptoKey; iat?: number; lifetime?: number } = {},
  ): Promise<string> {
    const iat = options.iat ?? Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + (options.lifetime ?? 180))
      .sign(options.key ?? keys.privateKey);
  }

  /** What the original's user service did at login: `SET token-<token> <JWT> EX 180`. */
  async function writeSession(jwt: string): Promise<string> {
    const token = randomBytes(16).toString('hex');
    await admin.set(`token-${token}`, jwt, 'EX', 180);
    return token;
  }

  function userService(name: string): UpstreamHandler {
    return async (req, res, body) => {
      const url = new URL(req.url ?? '/', 'http://upstream');
      const reply = (status: number, doc: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-instance': name });
        res.end(JSON.stringify(doc));
      };
      if (req.method === 'POST' && url.pathname === '/account/login') {
        const { email, password } = JSON.parse(body) as { email: string; password: string };
        if (email.startsWith('fail')) return reply(500, { error: 'the service failed' });
        if (password !== PASSWORD) return reply(200, { code: 1, message: 'wrong email or password' });
        const token = await writeSession(await sessionJwt({ user_id: USER_ID }));
        return reply(200, { code: 0, message: 'success', data: { token } });
      }
      if (req.method === 'GET' && url.pathname === '/account/profile') {
        return reply(200, {
          code: 0,
          message: 'success',
          data: { user_id: req.headers.user_id ?? null, query: Object.fromEntries(url.searchParams), bodyLength: body.length },
        });
      }
      reply(404, { error: 'no such path' });
    };
  }

  beforeAll(async () => {
    admin = adminClient(redis!);
    [keys, foreign] = await Promise.all([rsaKeyPair(), rsaKeyPair()]);
    upstreams = await Promise.all(WEIGHTS.map((_, i) => startUpstream(userService(`u${i + 1}`))));
    slow = await startUpstream(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 2_000));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"code":0,"message":"success"}');
    });
    const dead = await deadPort();
    dir.main = await seedDir({ redisPort: redis!.port, userPorts: upstreams.map((u) => u.port), keys });
    // Failure cases: every endpoint refuses connections; every endpoint is slower than a (rewritten) 300 ms timeout.
    dir.down = await seedDir({ redisPort: redis!.port, userPorts: WEIGHTS.map(() => dead), keys });
    dir.slow = await seedDir({ redisPort: redis!.port, userPorts: WEIGHTS.map(() => slow.port), keys, timeoutMs: 300 });
    dirs.push(dir.main, dir.down, dir.slow);
  });

  afterAll(async () => {
    await Promise.all([...(upstreams ?? []), slow].filter(Boolean).map((u) => u.close()));
    admin?.disconnect();
    await Promise.all(dirs.map(removeDir));
    await redis?.stop();
  });

  it('check --seed-config prints the equivalent native config and exits 0', async () => {
    const r = await runCli(['check', '--seed-config', dir.main]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('ok (2 routes, 1 upstreams)');
    const native = JSON.parse(r.stdout);
    expect(native.envelope).toEqual({ path: '/', exclusive: true });
    expect(native.store).toEqual({ type: 'redis', host: 'localhost', port: redis!.port, db: 0, tls: false });
    expect(native.upstreams.user.targets).toEqual(upstreams.map((u, i) => ({ url: `http://localhost:${u.port}`, weight: WEIGHTS[i] })));
    expect(native.upstreams.user.timeout).toBe(5000);
    expect(native.limits.failure).toEqual({ budget: '250ms' });
    expect(native.limits.default).toEqual([
      { name: 'seed', algorithm: 'sliding-window', limit: 120, window: 60000, key: [{ header: 'token' }, 'ip'] },
    ]);
    expect(native.tokenSessions).toMatchObject({
      header: 'token',
      keyPrefix: 'token-',
      algorithm: 'RS256',
      ttl: '180s',
      userClaim: 'user_id',
    });
    expect(native.routes).toEqual([
      {
        name: 'user.login',
        method: 'POST',
        path: '/user/login',
        upstream: 'user',
        rewrite: '/account/login',
        params: {
          body: {
            email: { mandatory: true, can_empty: false, max_length: 100, numeric: false, regex: 'email' },
            password: { mandatory: true, can_empty: false, max_length: 100, numeric: false, regex: 'password' },
          },
          unknown: 'reject',
        },
        auth: 'public',
      },
      {
        name: 'user.profile',
        method: 'POST',
        path: '/user/profile',
        upstream: 'user',
        rewrite: '/account/profile',
        forward: { method: 'GET', bodyAsQuery: true },
        auth: 'token',
      },
    ]);
    // --redact keeps the key material and the Redis password out of logs.
    const red = await runCli(['check', '--seed-config', dir.main, '--redact']);
    expect(JSON.parse(red.stdout).tokenSessions.privateKey).toBe('<redacted: private.pem>');
  });

  const variants = [
    {
      name: 'seed files (serve --seed-config DIR)',
      serve: (seed: string, extra: string[] = []) => serveCli(['--seed-config', seed, ...extra]),
    },
    {
      name: 'native config printed by check --seed-config (serve --config)',
      serve: async (seed: string, extra: string[] = []) => {
        const r = await runCli(['check', '--seed-config', seed, ...extra]);
        if (r.code !== 0) throw new Error(`check failed (${r.code}): ${r.stderr}`);
        const file = join(seed, `native${extra.join('')}.json`);
        await writeFile(file, r.stdout);
        return serveCli(['--config', file]);
      },
    },
  ];

  describe.each(variants)('$name', ({ serve }) => {
    let gw: ServedGateway;
    let url: string;

    beforeAll(async () => {
      // Public calls are counted per client IP (127.0.0.1) in the shared Redis; each variant starts afresh.
      const stale = await admin.keys('rl:*ip:127.0.0.1');
      if (stale.length > 0) await admin.del(...stale);
      gw = await serve(dir.main);
      url = gw.url;
    });
    afterAll(async () => {
      await gw?.close();
    });

    describe('public login', () => {
      it('passes a valid login to the user service and its JSON reply back', async () => {
        const before = upstreams.map((u) => u.seen.length);
        const r = await call(url, envelope('user', 'login', { email: 'ada@example.com', password: PASSWORD }), {
          'user-agent': 'seed-client/1.0',
        });
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ code: 0, message: 'success', data: { token: expect.any(String) } });
        const hit = upstreams.findIndex((u, i) => u.seen.length > before[i]);
        const seen = upstreams[hit].seen.at(-1)!;
        expect(seen.method).toBe('POST');
        expect(seen.url).toBe('/account/login');
        expect(seen.headers['content-type']).toBe('application/json');
        expect(seen.headers['user-agent']).toBe('seed-client/1.0');
        expect(JSON.parse(seen.body)).toEqual({ email: 'ada@example.com', password: PASSWORD });
        // The user service wrote the session into Redis, as the original's did.
        const token = (r.body.data as { token: string }).token;
        expect(await admin.ttl(`token-${token}`)).toBeGreaterThan(170);
      });

      it.each([
        ['an invalid email', { email: 'not-an-email', password: PASSWORD }],
        ['an invalid password', { email: 'ada@example.com', password: 'password' }],
        ['an empty email', { email: '', password: PASSWORD }],
        ['a too long email', { email: `${'a'.repeat(95)}@example.com`, password: PASSWORD }],
        ['a missing mandatory field (the original let it through)', { email: 'ada@example.com' }],
        ['a field without a rule', { email: 'ada@example.com', password: PASSWORD, admin: true }],
      ])('refuses %s with 10006 before any upstream sees it', async (_label, body) => {
        const before = upstreams.reduce((n, u) => n + u.seen.length, 0);
        const r = await call(url, envelope('user', 'login', body));
        expect(r.body).toEqual({ code: 10006, message: 'Invalid data' });
        expect(r.status).toBe(422);
        expect(upstreams.reduce((n, u) => n + u.seen.length, 0)).toBe(before);
      });

      it('strips a client-sent user_id header on public routes too', async () => {
        const before = upstreams.map((u) => u.seen.length);
        await call(url, envelope('user', 'login', { email: 'ada@example.com', password: PASSWORD }), { user_id: 'admin' });
        const hit = upstreams.findIndex((u, i) => u.seen.length > before[i]);
        expect(upstreams[hit].seen.at(-1)!.headers.user_id).toBeUndefined();
      });
    });

    describe('private profile (credential: true)', () => {
      it('logs in, then reads the profile with the token: GET with the body as query string and user_id upstream', async () => {
        const login = await call(url, envelope('user', 'login', { email: 'ada@example.com', password: PASSWORD }));
        const token = (login.body.data as { token: string }).token;
        const r = await call(url, envelope('user', 'profile', { fields: 'name,email', lang: 'en' }), { token, user_id: 'admin' });
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ code: 0, data: { user_id: USER_ID, query: { fields: 'name,email', lang: 'en' }, bodyLength: 0 } });
        const seen = upstreams.flatMap((u) => u.seen).find((s) => s.url.startsWith('/account/profile?fields='));
        expect(seen?.method).toBe('GET');
        expect(seen?.url).toBe('/account/profile?fields=name%2Cemail&lang=en');
      });

      it.each([
        ['no token header', {}],
        ['an empty token', { token: '' }],
        ['an unknown token', { token: 'no-such-session' }],
      ])('answers 99999 to %s', async (_label, headers) => {
        const r = await call(url, envelope('user', 'profile', {}), headers as Record<string, string>);
        expect(r.body).toEqual({ code: 99999, message: 'Invalid credential to the service' });
        expect(r.status).toBe(401);
      });

      it('resets the TTL of the session to session.expire on use', async () => {
        const token = await writeSession(await sessionJwt({ user_id: USER_ID }));
        await admin.pexpire(`token-${token}`, 20_000);
        const r = await call(url, envelope('user', 'profile', {}), { token });
        expect(r.body).toMatchObject({ code: 0, data: { user_id: USER_ID } });
        expect(await admin.pttl(`token-${token}`)).toBeGreaterThan(175_000);
      });

      it('re-signs the JWT only once more than half of its life is spent', async () => {
        const now = Math.floor(Date.now() / 1000);
        const fresh = await sessionJwt({ user_id: USER_ID, role: 'reader' });
        const freshToken = await writeSession(fresh);
        expect((await call(url, envelope('user', 'profile', {}), { token: freshToken })).body.code).toBe(0);
        expect(await admin.get(`token-${freshToken}`)).toBe(fresh);

        const aged = await sessionJwt({ user_id: USER_ID, role: 'reader' }, { iat: now - 100 });
        const agedToken = await writeSession(aged);
        expect((await call(url, envelope('user', 'profile', {}), { token: agedToken })).body.code).toBe(0);
        const stored = (await admin.get(`token-${agedToken}`)) as string;
        expect(stored).not.toBe(aged);
        const claims = decodeJwt(stored);
        expect(claims).toMatchObject({ user_id: USER_ID, role: 'reader' });
        expect(claims.iat).toBeGreaterThanOrEqual(now - 1);
        expect((claims.exp as number) - (claims.iat as number)).toBe(180);
        await expect(jwtVerify(stored, keys.publicKey, { algorithms: ['RS256'] })).resolves.toBeDefined();
        expect(await admin.pttl(`token-${agedToken}`)).toBeGreaterThan(175_000);
      });

      it.each([
        ['a tampered JWT', async () => `${(await sessionJwt({ user_id: USER_ID })).slice(0, -4)}AAAA`],
        ['a JWT signed with a foreign key', () => sessionJwt({ user_id: USER_ID }, { key: foreign.privateKey })],
        ['a JWT without user_id', () => sessionJwt({ name: 'ada' })],
        ['an expired JWT', () => sessionJwt({ user_id: USER_ID }, { iat: Math.floor(Date.now() / 1000) - 400 })],
        ['a value that is no JWT', async () => 'hello'],
      ])('answers 99999 to %s and deletes the session', async (_label, make) => {
        const token = await writeSession(await make());
        const before = upstreams.reduce((n, u) => n + u.seen.length, 0);
        const r = await call(url, envelope('user', 'profile', {}), { token });
        expect(r.body).toEqual({ code: 99999, message: 'Invalid credential to the service' });
        expect(await admin.exists(`token-${token}`)).toBe(0);
        expect(upstreams.reduce((n, u) => n + u.seen.length, 0)).toBe(before);
      });
    });

    describe('the envelope', () => {
      it.each([
        ['an unknown service', { service: 'billing', event: 'login', request_id: 'r-1' }, 10002, 'Invalid service endpoint', 404],
        ['an unknown event', { service: 'user', event: 'logout', request_id: 'r-1' }, 10004, 'Invalid event', 404],
        ['a missing request_id', { service: 'user', event: 'login', body: {} }, 10003, 'Invalid request_id', 400],
        ['a request_id with spaces', { service: 'user', event: 'login', request_id: 'r 1', body: {} }, 10003, 'Invalid request_id', 400],
        ['a body that is not an object', { service: 'user', event: 'login', request_id: 'r-1', body: 'x' }, 10006, 'Invalid data', 422],
      ])('answers %s', async (_label, doc, code, message, status) => {
        const r = await call(url, doc);
        expect(r.body).toEqual({ code, message });
        expect(r.status).toBe(status);
      });

      it('answers 10001 to other methods, with Allow: POST', async () => {
        const r = await call(url, '', {}, { method: 'GET' });
        expect(r.body).toEqual({ code: 10001, message: 'Forbidden to other http methods' });
        expect(r.status).toBe(405);
        expect(r.headers.get('allow')).toBe('POST');
      });

      it('is the only way in: the internal route paths answer 10002', async () => {
        const r = await call(url, { email: 'ada@example.com', password: PASSWORD }, {}, { path: '/user/login' });
        expect(r.body).toEqual({ code: 10002, message: 'Invalid service endpoint' });
        expect(r.status).toBe(404);
      });

      it('carries request_id upstream and back as X-Request-Id', async () => {
        const r = await call(url, {
          ...envelope('user', 'login', { email: 'ada@example.com', password: PASSWORD }),
          request_id: 'trace-77',
        });
        expect(r.headers.get('x-request-id')).toBe('trace-77');
        const seen = upstreams.flatMap((u) => u.seen).find((s) => s.headers['x-request-id'] === 'trace-77');
        expect(seen?.url).toBe('/account/login');
      });

      it('answers 10007 when the user service answers non-2xx', async () => {
        const r = await call(url, envelope('user', 'login', { email: 'fail@example.com', password: PASSWORD }));
        expect(r.body).toEqual({ code: 10007, message: 'Network error' });
        expect(r.status).toBe(502);
      });
    });

    it('spreads requests over the four endpoints by weight 10/2/2/4', async () => {
      const before = upstreams.map((u) => u.seen.length);
      const n = 360;
      // Distinct token headers: public calls are rate limited by token when one is sent, as in the original.
      for (let i = 0; i < n; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, (_, j) =>
            call(url, envelope('user', 'login', { email: 'ada@example.com', password: 'Wr0ng!pass' }), { token: `spread-${(i + j) % 60}` }),
          ),
        );
      }
      const counts = upstreams.map((u, i) => u.seen.length - before[i]);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(n);
      // Expected 200/40/40/80; bands of about 4.5 standard deviations.
      const expected = WEIGHTS.map((w) => (n * w) / 18);
      counts.forEach((c, i) => {
        const p = WEIGHTS[i] / 18;
        expect(Math.abs(c - expected[i])).toBeLessThan(4.5 * Math.sqrt(n * p * (1 - p)));
      });
    });

    it('answers 99998 at the 121st request of a client within the interval', async () => {
      // Keep the burst clear of a minute boundary, where the sliding window's estimate starts over;
      // 121 calls can take several seconds on a loaded 2-core machine, so leave a wide margin.
      const toBoundary = 60_000 - (Date.now() % 60_000);
      if (toBoundary < 20_000) await new Promise((r) => setTimeout(r, toBoundary + 100));
      const token = await writeSession(await sessionJwt({ user_id: 'rate-limited' }));
      const codes: number[] = [];
      for (let i = 0; i < 120; i += 12) {
        const batch = await Promise.all(Array.from({ length: 12 }, () => call(url, envelope('user', 'profile', {}), { token })));
        codes.push(...batch.map((r) => r.body.code as number));
      }
      expect(codes).toEqual(Array(120).fill(0));
      const over = await call(url, envelope('user', 'profile', {}), { token });
      expect(over.body).toEqual({ code: 99998, message: 'Over rate limit' });
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another client is not affected.
      const other = await writeSession(await sessionJwt({ user_id: USER_ID }));
      expect((await call(url, envelope('user', 'profile', {}), { token: other })).body.code).toBe(0);
    }, 60_000);

    describe('failing upstreams', () => {
      it('answers 10007 (502) when every endpoint refuses the connection', async () => {
        const down = await serve(dir.down);
        try {
          const r = await call(down.url, envelope('user', 'login', { email: 'ada@example.com', password: PASSWORD }), {
            token: `down-${randomBytes(4).toString('hex')}`,
          });
          expect(r.body).toEqual({ code: 10007, message: 'Network error' });
          expect(r.status).toBe(502);
        } finally {
          await down.close();
        }
      });

      it('answers 10007 (504) when the endpoint is slower than service_endpoints.timeout', async () => {
        const slowGw = await serve(dir.slow);
        try {
          const started = Date.now();
          const r = await call(slowGw.url, envelope('user', 'login', { email: 'ada@example.com', password: PASSWORD }), {
            token: `slow-${randomBytes(4).toString('hex')}`,
          });
          expect(r.body).toEqual({ code: 10007, message: 'Network error' });
          expect(r.status).toBe(504);
          expect(Date.now() - started).toBeLessThan(1_500);
        } finally {
          await slowGw.close();
        }
      });
    });

    describe('--seed-status=200: every reply 200, as the original answered', () => {
      let ok: ServedGateway;
      beforeAll(async () => {
        ok = await serve(dir.main, ['--seed-status=200']);
      });
      afterAll(async () => {
        await ok?.close();
      });

      it.each([
        ['an unknown service', () => call(ok.url, envelope('billing', 'x')), 10002],
        ['an unknown event', () => call(ok.url, envelope('user', 'x')), 10004],
        ['invalid data', () => call(ok.url, envelope('user', 'login', { email: 'x' })), 10006],
        ['a missing token', () => call(ok.url, envelope('user', 'profile', {})), 99999],
        ['another method', () => call(ok.url, '', {}, { method: 'GET' }), 10001],
        ['a failing service', () => call(ok.url, envelope('user', 'login', { email: 'fail@example.com', password: PASSWORD })), 10007],
      ])('%s', async (_label, run, code) => {
        const r = await run();
        expect(r.status).toBe(200);
        expect(r.body.code).toBe(code);
      });

      it('passes success through with 200', async () => {
        const r = await call(ok.url, envelope('user', 'login', { email: 'ada@example.com', password: PASSWORD }));
        expect(r.status).toBe(200);
        expect(r.body.code).toBe(0);
      });
    });
  });
});
