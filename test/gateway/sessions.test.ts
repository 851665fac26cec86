// The double-lock session through real HTTP: login, private call, logout, revocation, and the whole
// attack matrix, on the memory store and on a real Redis, with a rate limit sharing the round trip.
import { base64url, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStoreFromConfig } from '../../adapters/node/redis-store.ts';
import { type GeneratedKey, keygen } from '../../src/session/keys.ts';
import { memoryStore } from '../../src/store/memory.ts';
import type { Command, Store } from '../../src/store/store.ts';
import { type RunningGateway, startGateway } from '../helpers/gateway.ts';
import { redisForSuite } from '../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const redis = await redisForSuite('sessions over HTTP');
afterAll(() => redis?.stop());

const ISS = 'https://edgegate.test';
const AUD = 'api';
const ADMIN = 'admin-token-0123456789';
const INVALID = { code: 99999, message: 'Invalid credential to the service' };

function counting(inner: Store): Store & { batches: Command[][] } {
  const batches: Command[][] = [];
  return {
    kind: inner.kind,
    batches,
    batch: (c) => {
      batches.push([...c]);
      return inner.batch(c);
    },
    close: () => inner.close(),
  };
}

let key: GeneratedKey;
let other: GeneratedKey;
let api: TestUpstream;

beforeAll(async () => {
  key = await keygen('ES256', 'k1');
  other = await keygen('ES256', 'k1'); // same kid, different key: a forger's
  api = await startUpstream((req, res, body) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/login') {
      const { email } = JSON.parse(body || '{}');
      if (email === 'bad@example.com') {
        res.writeHead(401);
        res.end(JSON.stringify({ code: 1, message: 'wrong password' }));
        return;
      }
      res.end(JSON.stringify({ code: 0, message: 'success', data: { user_id: email === 'ada@example.com' ? '42' : '7' } }));
      return;
    }
    res.end(JSON.stringify({ url: req.url, user: req.headers['x-user-id'] ?? null }));
  });
});
afterAll(() => api?.close());

const backends: [string, () => Store][] = [['memory', () => memoryStore()]];
if (redis) backends.push(['redis', () => redisStoreFromConfig({ type: 'redis', url: redis.url, timeout: 1000 })]);

describe.each(backends)('sessions on %s', (_name, makeStore) => {
  let gw: RunningGateway;
  let store: Store & { batches: Command[][] };

  beforeAll(async () => {
    store = counting(makeStore());
    gw = await startGateway(
      {
        upstreams: { api: { targets: [{ url: api.url }] } },
        session: {
          keys: [{ kid: 'k1', alg: 'ES256', privateKey: key.privateKeyPem }],
          issuer: ISS,
          audience: AUD,
          ttl: '10m',
          token: { header: 'token', cookie: 'sid' },
          admin: { token: ADMIN },
        },
        routes: [
          { method: 'POST', path: '/login', upstream: 'api', login: { userId: '/data/user_id', token: '/data/token', cookie: true } },
          {
            path: '/me',
            upstream: 'api',
            auth: 'session',
            limits: [{ algorithm: 'fixed-window', limit: 1000, window: '60s', key: 'user' }],
          },
          { method: 'POST', path: '/logout', auth: 'session', logout: true },
        ],
      },
      { store },
    );
  });
  afterAll(() => gw?.close());

  async function login(email: string): Promise<{ token: string; res: Response; body: { data: { token: string; user_id: string } } }> {
    const res = await fetch(`${gw.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email }),
    });
    const body = await res.json();
    return { token: body.data?.token, res, body };
  }
  const me = (headers: Record<string, string>) => fetch(`${gw.url}/me`, { headers });

  async function signed(claims: JWTPayload, opts: { key?: GeneratedKey; kid?: string; alg?: string } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const { importPKCS8 } = await import('jose');
    const k = opts.key ?? key;
    return new SignJWT({ iss: ISS, aud: AUD, iat: now, exp: now + 600, ...claims })
      .setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: opts.kid ?? 'k1' })
      .sign(await importPKCS8(k.privateKeyPem, 'ES256'));
  }

  it('logs in, calls a private route with the user id upstream, and logs out', async () => {
    const { token, res, body } = await login('ada@example.com');
    expect(res.status).toBe(200);
    expect(body.data.user_id).toBe('42');
    expect(token.split('.')).toHaveLength(3);
    expect(res.headers.get('set-cookie')).toMatch(/^sid=.+; .*HttpOnly/i);

    const ways: Record<string, string>[] = [{ authorization: `Bearer ${token}` }, { token }, { cookie: `sid=${token}` }];
    for (const headers of ways) {
      const r = await me(headers);
      expect(r.status).toBe(200);
      expect((await r.json()).user).toBe('42');
    }
    // A client cannot claim an identity: its x-user-id is replaced.
    const spoof = await me({ token, 'x-user-id': '1' });
    expect((await spoof.json()).user).toBe('42');

    const out = await fetch(`${gw.url}/logout`, { method: 'POST', headers: { token } });
    expect(out.status).toBe(200);
    const after = await me({ token });
    expect(after.status).toBe(401);
    expect(await after.json()).toEqual(INVALID);
  });

  it('a failed login creates nothing and passes the reply through', async () => {
    const { res, body } = await login('bad@example.com');
    expect(res.status).toBe(401);
    expect(body).toEqual({ code: 1, message: 'wrong password' });
  });

  it('one store round trip per private request carries the session and the rate limit', async () => {
    const { token } = await login('grace@example.com');
    const before = store.batches.length;
    for (let i = 0; i < 5; i++) expect((await me({ token })).status).toBe(200);
    const batches = store.batches.slice(before);
    expect(batches).toHaveLength(5);
    // GET session, GET revocation stamp, PEXPIRE (slide), one EVAL for every limit of the route.
    expect(batches[0].map((c) => c.op)).toEqual(['get', 'get', 'pexpire', 'eval']);
  });

  it('the session slides in the store on use', async () => {
    const { token } = await login('slide@example.com');
    const sid = JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[1]))).sid;
    await store.batch([{ op: 'pexpire', key: `sess:${sid}`, ttlMs: 5_000 }]);
    expect((await me({ token })).status).toBe(200);
    const [ttl] = await store.batch([{ op: 'pttl', key: `sess:${sid}` }]);
    expect(ttl).toBeGreaterThan(60_000);
  });

  it('revokes one session or all sessions of a user through the admin endpoint', async () => {
    const a = (await login('ada@example.com')).token;
    const b = (await login('ada@example.com')).token;
    const revoke = (body: unknown, auth = ADMIN) =>
      fetch(`${gw.url}/_edgegate/sessions/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await revoke({ sub: '42' }, 'wrong-admin-token-000000')).status).toBe(401);
    const sidA = JSON.parse(new TextDecoder().decode(base64url.decode(a.split('.')[1]))).sid;
    expect((await revoke({ sid: sidA })).status).toBe(200);
    expect((await me({ token: a })).status).toBe(401);
    expect((await me({ token: b })).status).toBe(200);
    expect((await revoke({ sub: '42' })).status).toBe(200);
    expect((await me({ token: b })).status).toBe(401);
  });

  it('serves the JWKS with cache headers', async () => {
    const res = await fetch(`${gw.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const { keys } = await res.json();
    expect(keys).toEqual([expect.objectContaining({ kid: 'k1', alg: 'ES256', use: 'sig', kty: 'EC' })]);
    expect(keys[0].d).toBeUndefined();
  });

  describe('attack matrix: every case is a 401 with the original code and nothing more', () => {
    let good: string;
    let sid: string;
    beforeAll(async () => {
      good = (await login('mallory@example.com')).token;
      sid = JSON.parse(new TextDecoder().decode(base64url.decode(good.split('.')[1]))).sid;
    });
    const parts = () => good.split('.');
    const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
    const now = () => Math.floor(Date.now() / 1000);

    const cases: [string, () => Promise<Record<string, string>>][] = [
      ['no token', async () => ({})],
      ['alg none', async () => ({ token: `${enc({ alg: 'none', kid: 'k1' })}.${parts()[1]}.` })],
      [
        'HS256 with the public key as the secret',
        async () => {
          const t = await new SignJWT({ sub: '7', sid, iss: ISS, aud: AUD, iat: now(), exp: now() + 60 })
            .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
            .sign(new TextEncoder().encode(key.publicKeyPem));
          return { token: t };
        },
      ],
      ['unknown kid', async () => ({ token: await signed({ sub: '7', sid }, { kid: 'nope' }) })],
      ['bad signature', async () => ({ token: `${parts()[0]}.${parts()[1]}.${parts()[2].slice(0, -4)}AAAA` })],
      [
        'tampered payload',
        async () => {
          const claims = JSON.parse(new TextDecoder().decode(base64url.decode(parts()[1])));
          return { token: `${parts()[0]}.${enc({ ...claims, sub: '1' })}.${parts()[2]}` };
        },
      ],
      ['expired', async () => ({ token: await signed({ sub: '7', sid, iat: now() - 7200, exp: now() - 3600 }) })],
      ['nbf in the future', async () => ({ token: await signed({ sub: '7', sid, nbf: now() + 3600 }) })],
      ['wrong issuer', async () => ({ token: await signed({ sub: '7', sid, iss: 'https://evil.test' }) })],
      ['wrong audience', async () => ({ token: await signed({ sub: '7', sid, aud: 'other' }) })],
      ['signed by another key', async () => ({ token: await signed({ sub: '7', sid }, { key: other }) })],
      ['valid JWT for a session that does not exist', async () => ({ token: await signed({ sub: '7', sid: 'A'.repeat(24) }) })],
      ['malformed base64', async () => ({ token: 'e30.!!!.x' })],
      ['malformed JSON', async () => ({ token: `${base64url.encode('{not json')}.${parts()[1]}.${parts()[2]}` })],
      ['oversized token', async () => ({ token: `${parts()[0]}.${'A'.repeat(9000)}.${parts()[2]}` })],
      ['conflicting token header and bearer', async () => ({ token: good, authorization: `Bearer ${await signed({ sub: '7', sid })}` })],
      ['duplicated authorization header', async () => ({ authorization: `Bearer ${good}, Bearer ${good}` })],
    ];

    it.each(cases)('%s', async (_name, make) => {
      const headers = await make();
      const res = await me(headers);
      expect(res.status).toBe(401);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual(INVALID);
      for (const v of Object.values(headers)) if (v.length > 20) expect(text).not.toContain(v.slice(-20));
    });

    it('a session expired in the store fails while its JWT is still valid', async () => {
      const t = (await login('mallory@example.com')).token;
      const s = JSON.parse(new TextDecoder().decode(base64url.decode(t.split('.')[1]))).sid;
      expect((await me({ token: t })).status).toBe(200);
      await store.batch([{ op: 'del', key: `sess:${s}` }]);
      const res = await me({ token: t });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(INVALID);
    });

    it('the good token still works after all that', async () => {
      expect((await me({ token: good })).status).toBe(200);
    });
  });
});
