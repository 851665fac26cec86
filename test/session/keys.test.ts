// Key import (PEM and JWK, all four algorithms), problems with paths, keygen, sign/verify and rotation.
import { describe, expect, it } from 'vitest';
import { runKeygen } from '../../adapters/node/keygen.ts';
import { ConfigError, formatIssues } from '../../src/config/load.ts';
import { importKeys, keygen } from '../../src/session/keys.ts';
import { ALGORITHMS, type KeyConfig, sessionSchema } from '../../src/session/schema.ts';
import { ownKeyResolver, signToken, verifyToken } from '../../src/session/tokens.ts';
import { expectInvalid, T0, testKey } from './helpers.ts';

const keyEntry = (k: Record<string, unknown>): KeyConfig => sessionSchema.parse({ keys: [k], issuer: 'i', audience: 'a' }).keys[0];

async function problemsOf(keys: Record<string, unknown>[]): Promise<string[]> {
  const parsed = sessionSchema.parse({ keys, issuer: 'i', audience: 'a' }).keys;
  try {
    await importKeys(parsed);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

const verifyOpts = {
  issuer: 'iss',
  audience: 'aud',
  clockSkewMs: 30_000,
  maxTokenBytes: 8192,
  requiredClaims: ['sub', 'sid', 'iat', 'exp'],
};

describe.each(ALGORITHMS)('%s', (alg) => {
  it('imports from PEM and from JWK, derives the public key, signs and verifies both ways', async () => {
    const k = await testKey(alg);
    const fromPem = await importKeys([keyEntry({ kid: 'pem', alg, privateKey: k.privateKeyPem })]);
    const fromJwk = await importKeys([keyEntry({ kid: 'jwk', alg, privateKey: { ...k.privateJwk, kid: 'jwk' } })]);
    const pubPem = await importKeys([keyEntry({ kid: 'pem', alg, publicKey: k.publicKeyPem })]);
    const pubJwk = await importKeys([keyEntry({ kid: 'jwk', alg, publicKey: { ...k.publicJwk, kid: 'jwk' } })]);
    const both = await importKeys([keyEntry({ kid: 'pem', alg, privateKey: k.privateKeyPem, publicKey: k.publicKeyPem })]);

    // The published key is the same whatever form it came in, and only the public half.
    const { kid: _k, ...publicPart } = k.publicJwk;
    for (const ring of [fromPem, fromJwk, pubPem, pubJwk, both]) {
      expect(ring.jwks.keys).toHaveLength(1);
      const { kid, ...rest } = ring.jwks.keys[0];
      expect(rest).toEqual(publicPart);
      expect(ring.algorithms).toEqual([alg]);
      expect(JSON.stringify(ring.jwks)).not.toMatch(/"(d|p|q|dp|dq|qi)"/);
    }
    expect(pubPem.signing).toBeUndefined();
    expect(fromPem.signing?.key.extractable).toBe(false);
    expect(fromPem.signing?.key.type).toBe('private');

    const opts = { ...verifyOpts, algorithms: [alg] };
    const t1 = await signToken(
      fromPem.signing!,
      { sub: 'u', sid: 's'.repeat(24) },
      { issuer: 'iss', audience: 'aud', lifetimeSeconds: 60 },
      T0,
    );
    expect((await verifyToken(t1, ownKeyResolver(pubPem.byKid), opts, T0)).sub).toBe('u');
    const t2 = await signToken(
      fromJwk.signing!,
      { sub: 'v', sid: 's'.repeat(24), extra: { role: 'r' } },
      { issuer: 'iss', audience: 'aud', lifetimeSeconds: 60 },
      T0,
    );
    expect(await verifyToken(t2, ownKeyResolver(pubJwk.byKid), opts, T0)).toMatchObject({ sub: 'v', role: 'r', iss: 'iss', aud: 'aud' });
    // Expiry is exact to the second, plus the skew.
    await expectInvalid(verifyToken(t1, ownKeyResolver(pubPem.byKid), opts, T0 + 60_000 + 30_000), t1);
  });

  it('keygen gives matching PEM and JWK forms and a thumbprint kid', async () => {
    const k = await keygen(alg);
    expect(k.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(k.privateKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(k.publicKeyPem).toContain('-----BEGIN PUBLIC KEY-----');
    expect(k.publicJwk).toMatchObject({ kid: k.kid, alg, use: 'sig' });
    expect(k.publicJwk).not.toHaveProperty('d');
    expect(k.privateJwk).toHaveProperty('d');
    const a = await importKeys([keyEntry({ kid: k.kid, alg, privateKey: k.privateJwk, publicKey: k.publicKeyPem })]);
    expect(a.jwks.keys[0]).toEqual(k.publicJwk);
  });
});

describe('rotation', () => {
  it('signs with the active key and verifies with every listed one', async () => {
    const old = await testKey('RS256', 'old');
    const next = await testKey('EdDSA', 'new');
    const before = await importKeys([keyEntry({ kid: 'old', alg: 'RS256', privateKey: old.privateKeyPem })]);
    const oldToken = await signToken(
      before.signing!,
      { sub: 'u', sid: 's'.repeat(24) },
      { issuer: 'iss', audience: 'aud', lifetimeSeconds: 60 },
      T0,
    );

    // Step 2 of a rotation: the new key signs, the old one only verifies until its tokens expire.
    const ring = await importKeys(
      sessionSchema.parse({
        issuer: 'i',
        audience: 'a',
        keys: [
          { kid: 'old', alg: 'RS256', publicKey: old.publicKeyPem },
          { kid: 'new', alg: 'EdDSA', privateKey: next.privateKeyPem, active: true },
        ],
      }).keys,
    );
    expect(ring.signing?.kid).toBe('new');
    expect(ring.jwks.keys.map((k) => k.kid)).toEqual(['new', 'old']); // active first
    expect(ring.algorithms).toEqual(['RS256', 'EdDSA']);
    const newToken = await signToken(
      ring.signing!,
      { sub: 'u', sid: 's'.repeat(24) },
      { issuer: 'iss', audience: 'aud', lifetimeSeconds: 60 },
      T0,
    );
    const opts = { ...verifyOpts, algorithms: ring.algorithms };
    expect((await verifyToken(oldToken, ownKeyResolver(ring.byKid), opts, T0)).sub).toBe('u');
    expect((await verifyToken(newToken, ownKeyResolver(ring.byKid), opts, T0)).sub).toBe('u');
  });

  it('without an active flag the first key with a private half signs', async () => {
    const a = await testKey('ES256', 'a');
    const b = await testKey('ES256', 'b');
    const ring = await importKeys(
      sessionSchema.parse({
        issuer: 'i',
        audience: 'a',
        keys: [
          { kid: 'a', alg: 'ES256', publicKey: a.publicKeyPem },
          { kid: 'b', alg: 'ES256', privateKey: b.privateKeyPem },
        ],
      }).keys,
    );
    expect(ring.signing?.kid).toBe('b');
  });
});

describe('bad keys are config problems naming their path', () => {
  it('wrong kind, wrong format, wrong algorithm, mismatched halves, short RSA', async () => {
    const es = await testKey('ES256');
    const ed = await testKey('EdDSA');
    const rs = await testKey('RS256');
    const weak = await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    );
    const weakPem = `-----BEGIN PRIVATE KEY-----\n${btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.exportKey('pkcs8', weak.privateKey))))}\n-----END PRIVATE KEY-----`;
    const problems = await problemsOf([
      { kid: 'k0', alg: 'ES256', privateKey: 'not a pem' },
      { kid: 'k1', alg: 'ES256', privateKey: '-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----' },
      { kid: 'k2', alg: 'ES256', privateKey: ed.privateKeyPem },
      { kid: 'k3', alg: 'EdDSA', privateKey: es.privateJwk },
      { kid: 'k4', alg: 'ES256', privateKey: es.privateKeyPem, publicKey: (await testKey('ES256', 'x')).publicKeyPem },
      { kid: 'k5', alg: 'RS256', privateKey: weakPem },
      { kid: 'k6', alg: 'ES256', publicKey: { ...es.privateJwk, kid: 'k6' } },
      { kid: 'k7', alg: 'ES256', privateKey: { ...es.publicJwk, kid: 'k7' } },
      { kid: 'k8', alg: 'PS256', privateKey: { ...rs.privateJwk, kid: 'k8' } },
      { kid: 'k9', alg: 'ES256', publicKey: es.privateKeyPem },
    ]);
    expect(problems).toEqual([
      'session.keys[0].privateKey: expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a JWK object',
      expect.stringMatching(/^session\.keys\[1\]\.privateKey: expected PKCS#8 .*openssl pkcs8 -topk8/),
      'session.keys[2].privateKey: expected an EC P-256 key for ES256, which this is not (Invalid key type)',
      'session.keys[3].privateKey: expected an Ed25519 key for EdDSA, received kty "EC" crv "P-256"',
      'session.keys[4].publicKey: does not match privateKey (leave publicKey out and it is derived)',
      'session.keys[5].privateKey: expected an RSA key of 2048 bits or more, received 1024 bits',
      'session.keys[6].publicKey: expected a public JWK; this one holds private material ("d"), which belongs in privateKey only',
      'session.keys[7].privateKey: expected a private JWK (with "d"), received a public one (put it in publicKey)',
      'session.keys[8].privateKey: the JWK says alg "RS256" but the key is configured as PS256',
      'session.keys[9].publicKey: expected a public key, received a private key',
    ]);
    // A problem never quotes key material.
    for (const p of problems) expect(p).not.toContain(es.privateJwk.d as string);
  });

  it('schema problems: duplicate kid, two active keys, no key material, issuer/audience, reserved claims, HS256', () => {
    const doc = {
      keys: [
        { kid: 'a', alg: 'ES256', publicKey: 'x', active: true },
        { kid: 'a', alg: 'HS256', privateKey: 'y', active: true },
        { kid: 'c', alg: 'ES256' },
      ],
      claims: ['role', 'sub', '/data/exp'],
      token: { bearer: false },
      admin: { token: 'short' },
      identityHeaders: { sub: 'authorization' },
    };
    const r = sessionSchema.safeParse(doc);
    expect(r.success).toBe(false);
    const lines = formatIssues(r.error!.issues, doc, ['session']);
    expect(lines).toEqual(
      expect.arrayContaining([
        'session.keys[0].active: an active key signs tokens, so it needs a privateKey, received true',
        expect.stringMatching(/^session\.keys\[1\]\.alg: expected one of "RS256", "PS256", "ES256", "EdDSA"/),
        'session.keys[2].publicKey: expected a privateKey or a publicKey (missing)',
        expect.stringMatching(/^session\.admin\.token: expected an admin token of at least 16 characters/),
        expect.stringMatching(/^session\.identityHeaders\.sub: expected a header the gateway does not use itself/),
      ]),
    );
    const good = sessionSchema.safeParse({
      ...doc,
      keys: [
        { kid: 'a', alg: 'ES256', publicKey: 'x' },
        { kid: 'a', alg: 'ES256', privateKey: 'y', active: true },
        { kid: 'b', alg: 'ES256', privateKey: 'y', active: true },
      ],
      admin: {},
      identityHeaders: {},
    });
    const more = formatIssues(good.error!.issues, doc, ['session']);
    expect(more).toEqual(
      expect.arrayContaining([
        'session.issuer: expected the issuer of the gateway\'s tokens, e.g. "https://api.example.com" (required with keys)',
        expect.stringMatching(/^session\.keys\[1\]\.kid: duplicates the kid of keys\[0\]/),
        'session.keys[2].active: only one key may be active; keys[1] already is',
        expect.stringMatching(/^session\.token: expected at least one token source/),
        expect.stringMatching(/^session\.claims: "sub" is set by the gateway/),
        expect.stringMatching(/^session\.claims: "exp" is set by the gateway/),
      ]),
    );
  });

  it('defaults', () => {
    const s = sessionSchema.parse({});
    expect(s).toMatchObject({
      keys: [],
      ttl: 1_800_000,
      maxLifetime: 86_400_000,
      clockSkew: 30_000,
      maxTokenBytes: 8192,
      token: { bearer: true },
      identityHeaders: { sub: 'x-user-id' },
      jwks: { path: '/.well-known/jwks.json', enabled: true },
    });
    // PEM pasted through an environment variable with literal "\n" is accepted.
    expect(keyEntry({ kid: 'k', alg: 'ES256', publicKey: '-----BEGIN PUBLIC KEY-----\\nAAA\\n-----END PUBLIC KEY-----' }).publicKey).toBe(
      '-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----',
    );
  });
});

describe('edgegate keygen', () => {
  it('prints a session.keys entry that imports as is', async () => {
    let out = '';
    expect(
      await runKeygen(['--alg', 'EdDSA', '--kid', 'k-2026'], (s) => {
        out += s;
      }),
    ).toBe(0);
    const entry = JSON.parse(out.slice(out.indexOf('{'), out.indexOf('\n}\n') + 2));
    expect(entry).toMatchObject({ kid: 'k-2026', alg: 'EdDSA', active: true });
    const ring = await importKeys([keyEntry(entry)]);
    expect(ring.signing?.kid).toBe('k-2026');
    expect(out).toContain('-----BEGIN PUBLIC KEY-----');
  });

  it('refuses an unknown algorithm with usage', async () => {
    let err = '';
    expect(
      await runKeygen(
        ['--alg', 'HS256'],
        () => undefined,
        (s) => {
          err += s;
        },
      ),
    ).toBe(2);
    expect(err).toContain('--alg: expected one of RS256, PS256, ES256, EdDSA');
  });
});
