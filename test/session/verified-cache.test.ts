// Lock 1's memo of verified own tokens: a repeat skips the signature check, but never lock 2, never
// the time claims, never a failure; bounded in size and in age.
import { importPKCS8, SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkTimeClaims, VERIFIED_TTL_MS, verifiedCache } from '../../src/session/verified-cache.ts';
import { expectInvalid, type Fixture, fixture, privateCall } from './helpers.ts';

/** Counts signature checks (jose verifies through Web Crypto). */
function countVerifies() {
  return vi.spyOn(crypto.subtle, 'verify');
}

/** A token for an existing session, signed with the fixture's key, with the claims a test wants. */
async function signed(f: Fixture, sub: string, sid: string, claims: Record<string, unknown>): Promise<string> {
  const key = await importPKCS8(f.key.privateKeyPem, 'ES256');
  const iat = Math.floor(f.clock.now() / 1000);
  return new SignJWT({ sub, sid, iat, exp: iat + 3600, iss: 'https://gw.example', aud: 'api', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: f.key.kid })
    .sign(key);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('verified own tokens are remembered', () => {
  it('a repeated token skips the signature check, and lock 2 still runs every time', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    const verify = countVerifies();
    await privateCall(f, { token: s.token });
    expect(verify).toHaveBeenCalledTimes(1);
    const batches = f.store.batches.length;
    for (let i = 0; i < 3; i++) expect((await privateCall(f, { token: s.token })).identity?.sid).toBe(s.sid);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(f.store.batches.length).toBe(batches + 3);
  });

  it('a revoked session fails on the very next request although its token is cached', async () => {
    const f = await fixture();
    const a = await f.sessions.issue('u1');
    await privateCall(f, { token: a.token });
    const verify = countVerifies();
    await privateCall(f, { token: a.token }); // served from the cache
    expect(verify).not.toHaveBeenCalled();
    expect(await f.sessions.revokeSession(a.sid)).toBe(true);
    expect((await expectInvalid(privateCall(f, { token: a.token }), a.token)).cause).toBe('session-missing');

    const b = await f.sessions.issue('u2');
    await privateCall(f, { token: b.token });
    f.clock.advance(1);
    await f.sessions.revokeUser('u2');
    expect((await expectInvalid(privateCall(f, { token: b.token }), b.token)).cause).toBe('session-revoked');
    expect(verify).toHaveBeenCalledTimes(1); // b's first call; the failures came from lock 2 on cached tokens
  });

  it('an expired cached token fails', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    const now = Math.floor(f.clock.now() / 1000);
    const token = await signed(f, 'u1', s.sid, { exp: now + 20 });
    await privateCall(f, { token });
    const verify = countVerifies();
    f.clock.advance(10_000);
    await privateCall(f, { token }); // cached
    expect(verify).not.toHaveBeenCalled();
    f.clock.advance(41_000); // exp + 31 s: beyond the 30 s skew
    expect((await expectInvalid(privateCall(f, { token }), token)).cause).toBe('jwt-expired');
  });

  it('time claims are checked on every hit: a clock moved back before nbf fails', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    const now = Math.floor(f.clock.now() / 1000);
    const token = await signed(f, 'u1', s.sid, { nbf: now });
    await privateCall(f, { token });
    const verify = countVerifies();
    f.clock.advance(-60_000);
    expect((await expectInvalid(privateCall(f, { token }), token)).cause).toBe('claim-nbf');
    expect(verify).not.toHaveBeenCalled();
  });

  it('an entry is trusted for at most 60 s: then the signature is checked again', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    await privateCall(f, { token: s.token });
    const verify = countVerifies();
    f.clock.advance(VERIFIED_TTL_MS - 1);
    await privateCall(f, { token: s.token });
    expect(verify).not.toHaveBeenCalled();
    f.clock.advance(1);
    await privateCall(f, { token: s.token });
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('failures are never cached: a forged token is checked, and refused, every time', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    const [h, p, sig] = s.token.split('.');
    const forged = `${h}.${p}.${sig.slice(0, -4)}${sig.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    const verify = countVerifies();
    for (let i = 0; i < 3; i++) await expectInvalid(privateCall(f, { token: forged }), forged);
    expect(verify).toHaveBeenCalledTimes(3);
  });
});

describe('verifiedCache', () => {
  const payload = (exp: number) => ({ sub: 'u', sid: 's', iat: 0, exp });

  it('is bounded: past maxEntries the oldest entry goes first', () => {
    const c = verifiedCache(30_000, 3);
    for (const t of ['a', 'b', 'c', 'd']) c.set(t, payload(10_000), 0);
    expect(c.size).toBe(3);
    expect(c.get('a', 1)).toBeUndefined();
    expect(c.get('d', 1)).toBeDefined();
  });

  it('lives until min(exp, verification + 60 s); an already expired payload is not kept', () => {
    const c = verifiedCache(0);
    c.set('short', payload(10), 0); // exp at 10 s
    c.set('long', payload(10_000), 0);
    c.set('gone', payload(0), 0);
    expect(c.get('short', 9_999)).toBeDefined();
    expect(c.get('short', 10_000)).toBeUndefined();
    expect(c.get('long', 59_999)).toBeDefined();
    expect(c.get('long', 60_000)).toBeUndefined();
    expect(c.get('gone', 0)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('checkTimeClaims matches jose: exp and nbf in whole seconds with the skew, iat not in the future', () => {
    expect(() => checkTimeClaims({ exp: 100 }, 129_999, 30_000)).not.toThrow();
    expect(() => checkTimeClaims({ exp: 100 }, 130_000, 30_000)).toThrow();
    expect(() => checkTimeClaims({ nbf: 100 }, 70_000, 30_000)).not.toThrow();
    expect(() => checkTimeClaims({ nbf: 100 }, 69_999, 30_000)).toThrow();
    expect(() => checkTimeClaims({ iat: 100 }, 70_000, 30_000)).not.toThrow();
    expect(() => checkTimeClaims({ iat: 100 }, 69_999, 30_000)).toThrow();
  });
});
