// The attack matrix of issue 5, each case on `authenticate` with the memory store and a fake clock.
import { CompactSign, importPKCS8, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { b64url, expectInvalid, type Fixture, fixture, privateCall, testKey } from './helpers.ts';

let f: Fixture;
let signer: CryptoKey;
let good: string;
let sid: string;

const ISS = 'https://gw.example';
const AUD = 'api';

/** A token signed with the gateway's own key, with whatever claims and header a test wants. */
async function ownSigned(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const iat = Math.floor(f.clock.now() / 1000);
  return new SignJWT({ sub: 'u1', sid, iat, exp: iat + 3600, iss: ISS, aud: AUD, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: f.key.kid, ...header })
    .sign(signer);
}

beforeAll(async () => {
  f = await fixture();
  signer = await importPKCS8(f.key.privateKeyPem, 'ES256');
  const issued = await f.sessions.issue('u1', { role: 'admin' });
  good = issued.token;
  sid = issued.sid;
});

describe('a genuine token passes both locks', () => {
  it('via Bearer, the token header and the cookie', async () => {
    for (const headers of [{ authorization: `Bearer ${good}` }, { token: good }, { cookie: `a=b; edgegate_session=${good}` }] as Record<
      string,
      string
    >[]) {
      const ctx = await privateCall(f, headers);
      expect(ctx.identity?.sub).toBe('u1');
      expect(ctx.identity?.sid).toBe(sid);
      expect(ctx.upstreamHeaders.get('x-user-id')).toBe('u1');
      expect(ctx.upstreamHeaders.get('x-user-role')).toBe('admin');
    }
  });

  it('the same token in two places is one credential, not a conflict', async () => {
    const ctx = await privateCall(f, { authorization: `Bearer ${good}`, token: good });
    expect(ctx.identity?.sub).toBe('u1');
  });

  it('a token the session signed with the same claims by hand also passes (the control for the cases below)', async () => {
    const ctx = await privateCall(f, { authorization: `Bearer ${await ownSigned({})}` });
    expect(ctx.identity?.sub).toBe('u1');
  });
});

describe('every attack is 401 with code 99999 and nothing of the token in the error', () => {
  it('no credential at all, and an empty token header', async () => {
    await expectInvalid(privateCall(f, {}), undefined);
    await expectInvalid(privateCall(f, { token: '' }), undefined);
  });

  it('alg "none", with an empty and with a made-up signature', async () => {
    const [h, p] = [b64url(JSON.stringify({ alg: 'none', kid: f.key.kid })), good.split('.')[1]];
    for (const token of [`${h}.${p}.`, `${h}.${p}`, `${h}.${p}.AAAA`]) {
      const err = await expectInvalid(privateCall(f, { authorization: `Bearer ${token}` }), token, f.logs);
      expect(['malformed', 'authorization-malformed', 'jose-alg-not-allowed']).toContain(err.cause);
    }
  });

  it('HS256 signed with the public key as the HMAC secret', async () => {
    for (const secret of [f.key.publicKeyPem, JSON.stringify(f.key.publicJwk)]) {
      const hmac = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
        'sign',
      ]);
      const input = `${b64url(JSON.stringify({ alg: 'HS256', kid: f.key.kid, typ: 'JWT' }))}.${good.split('.')[1]}`;
      const sig = new Uint8Array(await crypto.subtle.sign('HMAC', hmac, new TextEncoder().encode(input)));
      const token = `${input}.${b64url(sig)}`;
      const err = await expectInvalid(privateCall(f, { authorization: `Bearer ${token}` }), token, f.logs);
      expect(err.cause).toBe('jose-alg-not-allowed');
    }
  });

  it('unknown kid, and no kid at all', async () => {
    const unknown = await ownSigned({}, { kid: 'not-a-key' });
    expect((await expectInvalid(privateCall(f, { token: unknown }), unknown)).cause).toBe('kid-unknown');
    const noKid = await new SignJWT({ sub: 'u1', sid, iss: ISS, aud: AUD })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuedAt(Math.floor(f.clock.now() / 1000))
      .setExpirationTime('1h')
      .sign(signer);
    expect((await expectInvalid(privateCall(f, { token: noKid }), noKid)).cause).toBe('kid-missing');
  });

  it('a kid of ours with another algorithm in the header', async () => {
    const other = await testKey('EdDSA');
    const token = await new SignJWT({ sub: 'u1', sid, iss: ISS, aud: AUD })
      .setProtectedHeader({ alg: 'EdDSA', kid: f.key.kid })
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(await importPKCS8(other.privateKeyPem, 'EdDSA'));
    await expectInvalid(privateCall(f, { token }), token);
  });

  it('bad signature', async () => {
    const [h, p, s] = good.split('.');
    // Change a character in the middle: the last one may only carry padding bits.
    const i = Math.floor(s.length / 2);
    const bad = `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    expect((await expectInvalid(privateCall(f, { token: bad }), bad)).cause).toBe('jws-signature-verification-failed');
  });

  it('tampered payload (another sub, the original signature)', async () => {
    const [h, p, s] = good.split('.');
    const claims = JSON.parse(atob(p.replace(/-/g, '+').replace(/_/g, '/')));
    const tampered = `${h}.${b64url(JSON.stringify({ ...claims, sub: 'admin' }))}.${s}`;
    await expectInvalid(privateCall(f, { token: tampered }), tampered);
  });

  it('expired (beyond the clock skew), while within the skew it still passes', async () => {
    const now = Math.floor(f.clock.now() / 1000);
    const expired = await ownSigned({ iat: now - 100, exp: now - 31 });
    expect((await expectInvalid(privateCall(f, { token: expired }), expired)).cause).toBe('jwt-expired');
    const withinSkew = await ownSigned({ iat: now - 100, exp: now - 20 });
    expect((await privateCall(f, { token: withinSkew })).identity?.sub).toBe('u1');
  });

  it('nbf in the future, and iat in the future', async () => {
    const now = Math.floor(f.clock.now() / 1000);
    const nbf = await ownSigned({ nbf: now + 3600 });
    expect((await expectInvalid(privateCall(f, { token: nbf }), nbf)).cause).toBe('claim-nbf');
    const iat = await ownSigned({ iat: now + 3600, exp: now + 7200 });
    expect((await expectInvalid(privateCall(f, { token: iat }), iat)).cause).toBe('iat-future');
  });

  it('wrong iss, wrong aud, missing sid', async () => {
    const iss = await ownSigned({ iss: 'https://evil.example' });
    expect((await expectInvalid(privateCall(f, { token: iss }), iss)).cause).toBe('claim-iss');
    const aud = await ownSigned({ aud: 'other-api' });
    expect((await expectInvalid(privateCall(f, { token: aud }), aud)).cause).toBe('claim-aud');
    const noSid = await ownSigned({ sid: undefined });
    await expectInvalid(privateCall(f, { token: noSid }), noSid);
  });

  it('a valid JWT for a session id that has no record (forged or never created)', async () => {
    const token = await ownSigned({ sid: 'AAAAAAAAAAAAAAAAAAAAAAAA' });
    expect((await expectInvalid(privateCall(f, { token }), token)).cause).toBe('session-missing');
  });

  it('a JWT whose sub differs from its session record', async () => {
    const token = await ownSigned({ sub: 'someone-else' });
    expect((await expectInvalid(privateCall(f, { token }), token)).cause).toBe('session-mismatch');
  });

  it('revoked session, and all sessions of a revoked user', async () => {
    const a = await f.sessions.issue('u2');
    await privateCall(f, { token: a.token });
    expect(await f.sessions.revokeSession(a.sid)).toBe(true);
    expect((await expectInvalid(privateCall(f, { token: a.token }), a.token)).cause).toBe('session-missing');

    const b = await f.sessions.issue('u3');
    const c = await f.sessions.issue('u3');
    f.clock.advance(1);
    await f.sessions.revokeUser('u3');
    expect((await expectInvalid(privateCall(f, { token: b.token }), b.token)).cause).toBe('session-revoked');
    expect((await expectInvalid(privateCall(f, { token: c.token }), c.token)).cause).toBe('session-revoked');
    // A login after the revocation is a new session and works.
    f.clock.advance(1);
    const d = await f.sessions.issue('u3');
    expect((await privateCall(f, { token: d.token })).identity?.sub).toBe('u3');
  });

  it('session expired in the store while the JWT is still valid', async () => {
    const g = await fixture();
    const s = await g.sessions.issue('u1');
    g.clock.advance(31 * 60_000); // idle ttl is 30m; the JWT lives 24h
    expect((await expectInvalid(privateCall(g, { token: s.token }), s.token)).cause).toBe('session-missing');
  });

  it('a token signed by another key that claims our kid', async () => {
    const other = await testKey('ES256', 'attacker');
    const token = await new SignJWT({ sub: 'u1', sid, iss: ISS, aud: AUD })
      .setProtectedHeader({ alg: 'ES256', kid: f.key.kid })
      .setIssuedAt(Math.floor(f.clock.now() / 1000))
      .setExpirationTime(Math.floor(f.clock.now() / 1000) + 3600)
      .sign(await importPKCS8(other.privateKeyPem, 'ES256'));
    expect((await expectInvalid(privateCall(f, { token }), token)).cause).toBe('jws-signature-verification-failed');
  });

  it('malformed base64 and malformed JSON', async () => {
    const cases = [
      'abc.d$f.ghi',
      'a.b.c',
      `${b64url('{"alg":"ES256"')}.${good.split('.')[1]}.${good.split('.')[2]}`, // header not JSON
      `${b64url('[1,2]')}.${good.split('.')[1]}.${good.split('.')[2]}`, // header not an object
      `${good.split('.')[0]}.${b64url('{"sub":')}.${good.split('.')[2]}`, // payload not JSON
      `A${good}`, // header base64 shifted
      'only.two',
      `${good}.extra`,
    ];
    for (const token of cases) await expectInvalid(privateCall(f, { token }), token);
    // Correctly signed, but the payload is not JSON: the signature holds and the token still fails.
    const notJson = await new CompactSign(new TextEncoder().encode('not json'))
      .setProtectedHeader({ alg: 'ES256', kid: f.key.kid })
      .sign(signer);
    expect((await expectInvalid(privateCall(f, { token: notJson }), notJson)).cause).toBe('jwt-invalid');
  });

  it('oversized token: refused on length alone', async () => {
    const huge = await ownSigned({ pad: 'x'.repeat(9000) });
    expect((await expectInvalid(privateCall(f, { authorization: `Bearer ${huge}` }), huge)).cause).toBe('too-large');
    const junk = `${'a'.repeat(5000)}.${'b'.repeat(5000)}.c`;
    expect((await expectInvalid(privateCall(f, { token: junk }), junk)).cause).toBe('too-large');
  });

  it('duplicated Authorization headers, even carrying the same token', async () => {
    for (const second of [good, await ownSigned({})]) {
      const headers = new Headers([
        ['authorization', `Bearer ${good}`],
        ['authorization', `Bearer ${second}`],
      ]);
      expect((await expectInvalid(privateCall(f, headers), good)).cause).toBe('authorization-malformed');
    }
  });

  it('conflicting credentials: Bearer vs token header vs cookie', async () => {
    const other = (await f.sessions.issue('u9')).token;
    const cases: HeadersInit[] = [
      { authorization: `Bearer ${good}`, token: other },
      { authorization: `Bearer ${good}`, cookie: `edgegate_session=${other}` },
      { token: good, cookie: `edgegate_session=${other}` },
      { cookie: `edgegate_session=${good}; edgegate_session=${good}` },
      new Headers([
        ['token', good],
        ['token', other],
      ]),
      { authorization: `Basic dXNlcjpwYXNz`, token: good },
      { authorization: `Bearer ${good} extra` },
    ];
    for (const headers of cases) await expectInvalid(privateCall(f, headers), good);
  });

  it('nothing was logged about any of it', () => {
    expect(f.logs).toEqual([]);
  });
});

describe('lock 2 fails closed', () => {
  it('a store failure is 503 storeUnavailable, never a pass', async () => {
    const { StoreError } = await import('../../src/errors.ts');
    const g = await fixture();
    const s = await g.sessions.issue('u1');
    g.store.batch = () => Promise.reject(new StoreError('timeout', 'store timed out'));
    let caught: unknown;
    try {
      await privateCall(g, { token: s.token });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as GatewayError).status).toBe(503);
    expect((caught as GatewayError).kind).toBe('storeUnavailable');
  });
});
