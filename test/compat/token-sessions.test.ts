// Opaque token sessions as a native feature (auth: "token"), driven through createGateway on the memory
// store with a fake clock: one store round trip with the route's rate limits, re-sign at half-life only,
// compare-and-set writes, fail closed, start-up problems.
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { routeSchema } from '../../src/config/schema.ts';
import { StoreError } from '../../src/errors.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { tokenSessionsSchema } from '../../src/session/schema.ts';
import { createTokenSessions } from '../../src/session/token-sessions.ts';
import { memoryStore } from '../../src/store/memory.ts';
import type { Command, Store } from '../../src/store/store.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { countingStore, fakeClock } from '../session/helpers.ts';
import { type KeyPair, rsaKeyPair } from './helpers.ts';

let keys: KeyPair;
let upstream: TestUpstream;

beforeAll(async () => {
  keys = await rsaKeyPair();
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

function config(overrides: Partial<ConfigInput> = {}): ConfigInput {
  return {
    upstreams: { api: { targets: [{ url: upstream.url }] } },
    tokenSessions: { privateKey: keys.privatePem, publicKey: keys.publicPem, ttl: '180s' },
    limits: { default: [{ algorithm: 'fixed-window', limit: 100, window: '60s', key: [{ header: 'token' }, 'ip'] }] },
    routes: [
      { path: '/me', upstream: 'api', auth: 'token' },
      { path: '/open', upstream: 'api' },
    ],
    ...overrides,
  };
}

interface Rig {
  gateway: Gateway;
  store: Store & { batches: Command[][] };
  clock: ReturnType<typeof fakeClock>;
  inner: ReturnType<typeof memoryStore>;
}

function rig(overrides: Partial<ConfigInput> = {}, wrap: (s: Store) => Store = (s) => s): Rig {
  const clock = fakeClock();
  const inner = memoryStore({ now: clock.now });
  const store = countingStore(wrap(inner));
  const gateway = createGateway(config(overrides), { store, now: clock.now, clientIp: () => '10.0.0.1', logError: () => {} });
  return { gateway, store, clock, inner };
}

/** A JWT as the original's user service stored it. */
function jwt(claims: Record<string, unknown>, iatMs: number, lifetime = 180, key: CryptoKey = keys.privateKey): Promise<string> {
  const iat = Math.floor(iatMs / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetime)
    .sign(key);
}

async function put(r: Rig, token: string, value: string): Promise<void> {
  await r.inner.batch([{ op: 'set', key: `token-${token}`, value, ttlMs: 180_000 }] as const);
}

async function stored(r: Rig, token: string): Promise<{ value: string | null; ttl: number }> {
  const [value, ttl] = await r.inner.batch([
    { op: 'get', key: `token-${token}` },
    { op: 'pttl', key: `token-${token}` },
  ] as const);
  return { value, ttl };
}

function get(r: Rig, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return r.gateway.fetch(new Request(`http://gw${path}`, { headers }));
}

describe('auth: "token"', () => {
  it('takes ONE store round trip per request: GET + PEXPIRE of the session with the rate limit', async () => {
    const r = rig();
    await put(r, 'abc', await jwt({ user_id: 'u1' }, r.clock.now()));
    r.store.batches.length = 0;
    const res = await get(r, '/me', { token: 'abc', user_id: 'forged' });
    expect(res.status).toBe(200);
    const seen = (await res.json()) as { headers: Record<string, string> };
    expect(seen.headers.user_id).toBe('u1');
    expect(r.store.batches).toHaveLength(1);
    expect(r.store.batches[0].map((c) => c.op)).toEqual(['get', 'pexpire', 'eval']);
  });

  it('refuses a missing, empty or malformed token with 99999 and no store call', async () => {
    const r = rig();
    await r.gateway.ready;
    r.store.batches.length = 0;
    for (const headers of [{}, { token: '' }, { token: '   ' }, { token: 'a'.repeat(1025) }] as Record<string, string>[]) {
      const res = await get(r, '/me', headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: 99999, message: 'Invalid credential to the service' });
    }
    expect(r.store.batches).toHaveLength(0);
  });

  it('slides the key TTL on every use and re-signs the JWT only past half of its life', async () => {
    const r = rig();
    const original = await jwt({ user_id: 'u1', plan: 'pro' }, r.clock.now());
    await put(r, 'abc', original);

    r.clock.advance(60_000);
    expect((await get(r, '/me', { token: 'abc' })).status).toBe(200);
    expect(await stored(r, 'abc')).toEqual({ value: original, ttl: 180_000 });

    r.clock.advance(31_000); // 91 s of 180: past half
    r.store.batches.length = 0;
    expect((await get(r, '/me', { token: 'abc' })).status).toBe(200);
    const after = await stored(r, 'abc');
    expect(after.value).not.toBe(original);
    expect(after.ttl).toBe(180_000);
    const claims = decodeJwt(after.value as string);
    expect(claims).toMatchObject({
      user_id: 'u1',
      plan: 'pro',
      iat: Math.floor(r.clock.now() / 1000),
      exp: Math.floor(r.clock.now() / 1000) + 180,
    });
    // The request batch, then the one compare-and-set.
    expect(r.store.batches.map((b) => b.map((c) => c.op))).toEqual([['get', 'pexpire', 'eval'], ['eval']]);

    // Freshly re-signed: the next uses only slide the TTL.
    r.store.batches.length = 0;
    r.clock.advance(10_000);
    expect((await get(r, '/me', { token: 'abc' })).status).toBe(200);
    expect((await stored(r, 'abc')).value).toBe(after.value);
    expect(r.store.batches).toHaveLength(1);
  });

  it('keeps a busy session alive well past its first JWT lifetime', async () => {
    const r = rig();
    await put(r, 'busy', await jwt({ user_id: 'u1' }, r.clock.now()));
    for (let i = 0; i < 20; i++) {
      r.clock.advance(60_000);
      expect((await get(r, '/me', { token: 'busy' })).status).toBe(200);
    }
  });

  it('expires an idle session with its key', async () => {
    const r = rig();
    await put(r, 'idle', await jwt({ user_id: 'u1' }, r.clock.now()));
    r.clock.advance(181_000);
    expect((await get(r, '/me', { token: 'idle' })).status).toBe(401);
  });

  it('does not resurrect a session deleted between the read and the re-sign', async () => {
    let deleteAfterRead = false;
    const r = rig({}, (s) => ({
      kind: s.kind,
      async batch(commands) {
        const out = await s.batch(commands);
        if (deleteAfterRead && commands[0].op === 'get') await s.batch([{ op: 'del', key: 'token-abc' }] as const);
        return out;
      },
      close: () => s.close(),
    }));
    await put(r, 'abc', await jwt({ user_id: 'u1' }, r.clock.now()));
    r.clock.advance(100_000);
    deleteAfterRead = true; // the user service logs the user out while the request is in flight
    expect((await get(r, '/me', { token: 'abc' })).status).toBe(200);
    expect((await stored(r, 'abc')).value).toBeNull();
  });

  it.each([
    ['signed with another key', async (now: number, other: KeyPair) => jwt({ user_id: 'u1' }, now, 180, other.privateKey)],
    ['without the user claim', async (now: number) => jwt({ name: 'ada' }, now)],
    ['with an empty user id', async (now: number) => jwt({ user_id: ' ' }, now)],
    ['with an object as user id', async (now: number) => jwt({ user_id: { id: 1 } }, now)],
    ['expired', async (now: number) => jwt({ user_id: 'u1' }, now - 200_000)],
    [
      'signed with HS256',
      async (now: number) =>
        new SignJWT({ user_id: 'u1' })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuedAt(Math.floor(now / 1000))
          .sign(new Uint8Array(32)),
    ],
  ])('deletes a session whose JWT is %s and answers 99999', async (_label, make) => {
    const r = rig();
    const other = await rsaKeyPair();
    await put(r, 'bad', await make(r.clock.now(), other));
    const res = await get(r, '/me', { token: 'bad' });
    expect(res.status).toBe(401);
    expect((await stored(r, 'bad')).value).toBeNull();
  });

  it('passes a numeric user id upstream as text', async () => {
    const r = rig();
    await put(r, 'n', await jwt({ user_id: 42 }, r.clock.now()));
    const seen = (await (await get(r, '/me', { token: 'n' })).json()) as { headers: Record<string, string> };
    expect(seen.headers.user_id).toBe('42');
  });

  it('strips a client-sent user_id on public routes', async () => {
    const r = rig();
    const seen = (await (await get(r, '/open', { user_id: 'admin' })).json()) as { headers: Record<string, string> };
    expect(seen.headers.user_id).toBeUndefined();
  });

  it('fails closed (503, 10013) when the store fails', async () => {
    const r = rig({}, (s) => ({
      kind: s.kind,
      batch: () => Promise.reject(new StoreError('unavailable', 'down')),
      close: () => s.close(),
    }));
    const res = await get(r, '/me', { token: 'abc' });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ code: 10013, message: 'Service unavailable' });
  });

  it('without a private key, slides the TTL but never re-signs', async () => {
    const r = rig({ tokenSessions: { publicKey: keys.publicPem } });
    const original = await jwt({ user_id: 'u1' }, r.clock.now());
    await put(r, 'v', original);
    r.clock.advance(150_000);
    expect((await get(r, '/me', { token: 'v' })).status).toBe(200);
    expect(await stored(r, 'v')).toEqual({ value: original, ttl: 180_000 });
  });
});

describe('start-up problems', () => {
  async function problems(overrides: Partial<ConfigInput>): Promise<string[]> {
    const gateway = createGateway(config(overrides), { store: memoryStore() });
    const err = await gateway.ready.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }

  it('names a route that needs tokenSessions when there are none', async () => {
    expect(await problems({ tokenSessions: undefined })).toEqual([
      'routes[0].auth: "token" needs tokenSessions (the store key prefix and the keys)',
    ]);
  });

  it('names keys that are no pair, or in the wrong format', async () => {
    const other = await rsaKeyPair();
    expect(await problems({ tokenSessions: { privateKey: keys.privatePem, publicKey: other.publicPem } })).toEqual([
      'tokenSessions.publicKey: does not match privateKey (a JWT signed with one does not verify with the other)',
    ]);
    expect(
      await problems({
        tokenSessions: { privateKey: '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----', publicKey: keys.privatePem },
      }),
    ).toEqual([
      'tokenSessions.publicKey: expected a public key, received a private key',
      'tokenSessions.privateKey: expected PKCS#8 ("-----BEGIN PRIVATE KEY-----"); convert it with `openssl pkcs8 -topk8 -nocrypt -in key.pem`',
    ]);
    expect(await problems({ tokenSessions: { publicKey: keys.publicPem, algorithm: 'ES256' } })).toEqual([
      expect.stringMatching(/^tokenSessions\.publicKey: not a key for ES256 \(/),
    ]);
  });

  it('refuses HMAC algorithms in the schema', () => {
    const r = tokenSessionsSchema.safeParse({ publicKey: 'x', algorithm: 'HS256' });
    expect(r.success).toBe(false);
  });
});

describe('createTokenSessions (tools)', () => {
  it('issues a session as the original user service did, and revokes it', async () => {
    const clock = fakeClock();
    const store = memoryStore({ now: clock.now });
    const sessions = await createTokenSessions(
      tokenSessionsSchema.parse({ privateKey: keys.privatePem, publicKey: keys.publicPem }),
      [routeSchema.parse({ path: '/me', auth: 'token' })],
      {
        store,
        now: clock.now,
      },
    );
    const issued = await sessions!.issue('u7', { claims: { role: 'admin' } });
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [value, ttl] = await store.batch([
      { op: 'get', key: `token-${issued.token}` },
      { op: 'pttl', key: `token-${issued.token}` },
    ] as const);
    expect(value).toBe(issued.jwt);
    expect(ttl).toBe(180_000);
    expect(decodeJwt(issued.jwt)).toMatchObject({ user_id: 'u7', role: 'admin' });
    expect(await sessions!.revoke(issued.token)).toBe(true);
    expect(await sessions!.revoke(issued.token)).toBe(false);
  });
});
