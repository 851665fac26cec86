// `auth: "jwt"` against an identity provider's JWKS, with a local fetch stub: caching by kid,
// rate-limited refetch on unknown kids, stale-while-revalidate, timeouts and hostile key sets.
import { importPKCS8, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import type { GeneratedKey } from '../../src/session/keys.ts';
import { b64url, context, expectInvalid, type Fixture, fixture, run, testKey } from './helpers.ts';

const IDP = 'https://idp.example';
const JWKS_URL = `${IDP}/.well-known/jwks.json`;
const ROUTES = [{ path: '/partner', upstream: 'api', auth: 'jwt' }];

/** A fake identity provider: its JWKS is whatever `keys` holds; each fetch is counted. */
function provider() {
  const state = {
    keys: [] as object[],
    calls: 0,
    status: 200,
    /** When set, fetches wait until released (or their signal aborts). */
    hold: undefined as Promise<void> | undefined,
  };
  const fetchStub = (async (input: RequestInfo | URL, init?: RequestInit) => {
    state.calls++;
    expect(String(input)).toBe(JWKS_URL);
    const signal = init?.signal ?? undefined;
    if (state.hold !== undefined) {
      await Promise.race([
        state.hold,
        new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true })),
      ]);
    }
    return new Response(JSON.stringify({ keys: state.keys }), { status: state.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return { state, fetch: fetchStub };
}

async function idpToken(
  key: GeneratedKey,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = { kid: key.kid },
  now = Date.UTC(2026, 0, 1, 12),
): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ sub: 'partner-7', scope: 'read', iss: IDP, aud: 'edge', iat, exp: iat + 600, ...claims })
    .setProtectedHeader({ alg: key.alg, ...header })
    .sign(await importPKCS8(key.privateKeyPem, key.alg));
}

async function setup(overrides: Record<string, unknown> = {}) {
  const idp = provider();
  const f = await fixture(
    {
      remoteJwks: {
        url: JWKS_URL,
        issuer: IDP,
        audience: ['edge', 'other'],
        cacheTtl: '10m',
        cooldown: '30s',
        timeout: '200ms',
        ...overrides,
      },
      identityHeaders: { sub: 'x-user-id', scope: 'x-scope' },
    },
    { fetch: idp.fetch },
    ROUTES,
  );
  return { idp, f };
}

const call = (f: Fixture, token: string) => run(f, context(0, { authorization: `Bearer ${token}` }, f.clock.now(), '/partner'));

describe('auth: "jwt" with a remote JWKS', () => {
  it("verifies with the provider's keys, sets identity and headers, and needs no store step", async () => {
    const { idp, f } = await setup();
    const k = await testKey('RS256', 'idp-1');
    idp.state.keys = [k.publicJwk];
    const token = await idpToken(k);
    const ctx = context(0, { authorization: `Bearer ${token}` }, f.clock.now(), '/partner');
    expect(await f.sessions.authenticate(ctx, 0)).toBeUndefined();
    expect(ctx.identity).toMatchObject({ sub: 'partner-7', claims: { scope: 'read' } });
    expect(ctx.upstreamHeaders.get('x-user-id')).toBe('partner-7');
    expect(ctx.upstreamHeaders.get('x-scope')).toBe('read');
    // Cached by kid: a thousand more requests fetch nothing.
    for (let i = 0; i < 1000; i++) await call(f, token);
    expect(idp.state.calls).toBe(1);
    expect(f.store.batches).toHaveLength(0);
  });

  it('checks iss, aud, exp like session tokens; a gateway session token is not accepted here', async () => {
    const { idp, f } = await setup();
    const k = await testKey('ES256', 'idp-es');
    idp.state.keys = [k.publicJwk];
    await expectInvalid(call(f, await idpToken(k, { iss: 'https://evil.example' })), undefined);
    await expectInvalid(call(f, await idpToken(k, { aud: 'nobody' })), undefined);
    await expectInvalid(call(f, await idpToken(k, { exp: Math.floor(f.clock.now() / 1000) - 60 })), undefined);
    expect((await call(f, await idpToken(k, { aud: 'other' }))).identity?.sub).toBe('partner-7');
    const own = (await f.sessions.issue('u1')).token;
    await expectInvalid(call(f, own), own);
  });

  it('an unknown kid refetches at most once per cooldown, and a rotated key is picked up', async () => {
    const { idp, f } = await setup();
    const k1 = await testKey('ES256', 'idp-1');
    const k2 = await testKey('ES256', 'idp-2');
    idp.state.keys = [k1.publicJwk];
    await call(f, await idpToken(k1));
    expect(idp.state.calls).toBe(1);

    f.clock.advance(31_000);
    // A flood of forged kids: one refetch, then refusals without touching the provider.
    for (let i = 0; i < 50; i++) await expectInvalid(call(f, await idpToken(k2, {}, { kid: `forged-${i}` })), undefined);
    expect(idp.state.calls).toBe(2);

    // The provider rotates in k2; within the cooldown its tokens still fail...
    idp.state.keys = [k1.publicJwk, k2.publicJwk];
    const t2 = await idpToken(k2);
    expect((await expectInvalid(call(f, t2), t2)).cause).toBe('kid-unknown');
    expect(idp.state.calls).toBe(2);
    // ...and after it, one refetch picks the new key up.
    f.clock.advance(30_000);
    expect((await call(f, t2)).identity?.sub).toBe('partner-7');
    expect(idp.state.calls).toBe(3);
    expect((await call(f, await idpToken(k1))).identity?.sub).toBe('partner-7');
    expect(idp.state.calls).toBe(3);
  });

  it('serves stale keys while revalidating in the background', async () => {
    const { idp, f } = await setup();
    const k1 = await testKey('EdDSA', 'idp-ed');
    idp.state.keys = [k1.publicJwk];
    const token = await idpToken(k1, { exp: Math.floor(f.clock.now() / 1000) + 3600 });
    await call(f, token);

    f.clock.advance(11 * 60_000); // past cacheTtl
    let release!: () => void;
    idp.state.hold = new Promise<void>((r) => {
      release = r;
    });
    // The provider is slow: the request does not wait for it.
    expect((await call(f, token)).identity?.sub).toBe('partner-7');
    expect(idp.state.calls).toBe(2);
    // A second stale request does not start another fetch while one is in flight.
    await call(f, token);
    expect(idp.state.calls).toBe(2);
    idp.state.keys = []; // the refresh will bring an empty set: unusable, so the old keys stay
    release();
    idp.state.hold = undefined;
    await new Promise((r) => setTimeout(r, 10));
    expect((await call(f, token)).identity?.sub).toBe('partner-7');
    expect(f.logs.some(([m]) => String(m).includes('jwks refresh failed'))).toBe(true);
  });

  it('a failing or hanging provider: the first fetch is bounded by the timeout and is a 503, then cooled down', async () => {
    const { idp, f } = await setup();
    const k = await testKey('ES256', 'idp-1');
    idp.state.hold = new Promise(() => undefined); // never answers
    const token = await idpToken(k);
    const started = Date.now();
    let caught: unknown;
    try {
      await call(f, token);
    } catch (err) {
      caught = err;
    }
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as GatewayError).status).toBe(503);
    expect(idp.state.calls).toBe(1);
    // Within the cooldown no second fetch is attempted.
    idp.state.hold = undefined;
    idp.state.keys = [k.publicJwk];
    await expect(call(f, token)).rejects.toMatchObject({ status: 503 });
    expect(idp.state.calls).toBe(1);
    f.clock.advance(30_000);
    expect((await call(f, token)).identity?.sub).toBe('partner-7');
    expect(idp.state.calls).toBe(2);

    const g = await setup();
    g.idp.state.status = 500;
    await expect(call(g.f, token)).rejects.toMatchObject({ status: 503 });
  });

  it('refuses symmetric keys in the set, HS256 tokens, and algorithms outside the allow-list', async () => {
    const { idp, f } = await setup({ algorithms: ['ES256'] });
    const es = await testKey('ES256', 'idp-1');
    const rs = await testKey('RS256', 'idp-rs');
    const secret = 'super-secret-shared-key-material';
    idp.state.keys = [es.publicJwk, rs.publicJwk, { kty: 'oct', kid: 'hmac', k: b64url(secret), alg: 'HS256' }];
    const hmac = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const now = Math.floor(f.clock.now() / 1000);
    const input = `${b64url(JSON.stringify({ alg: 'HS256', kid: 'hmac' }))}.${b64url(JSON.stringify({ sub: 'x', iss: IDP, aud: 'edge', exp: now + 60 }))}`;
    const hs = `${input}.${b64url(new Uint8Array(await crypto.subtle.sign('HMAC', hmac, new TextEncoder().encode(input))))}`;
    await expectInvalid(call(f, hs), hs);
    await expectInvalid(call(f, await idpToken(rs)), undefined); // RS256 not allowed for this provider
    expect((await call(f, await idpToken(es))).identity?.sub).toBe('partner-7');
  });

  it('a kid-less token is accepted only when the set has exactly one key for its algorithm', async () => {
    const { idp, f } = await setup();
    const a = await testKey('ES256', 'idp-a');
    const b = await testKey('ES256', 'idp-b');
    const { kid: _a, ...aNoKid } = a.publicJwk;
    idp.state.keys = [aNoKid];
    expect((await call(f, await idpToken(a, {}, {}))).identity?.sub).toBe('partner-7');

    const two = await setup();
    two.idp.state.keys = [a.publicJwk, b.publicJwk];
    await two.f.sessions.authenticate(context(0, { authorization: `Bearer ${await idpToken(a)}` }, two.f.clock.now(), '/partner'), 0);
    await expectInvalid(call(two.f, await idpToken(a, {}, {})), undefined);
  });
});
