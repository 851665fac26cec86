// Signing keys: imported once at start-up from PEM or JWK, the public JWK set, and key generation.

import type { JWK } from 'jose';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importJWK, importPKCS8, importSPKI } from 'jose';
import { ConfigError } from '../config/load.ts';
import type { Algorithm, KeyConfig } from './schema.ts';

/** A key that verifies tokens carrying its `kid`. */
export interface VerifyKey {
  readonly kid: string;
  readonly alg: Algorithm;
  readonly key: CryptoKey;
}

/** The key new tokens are signed with; its private half is not extractable. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: Algorithm;
  readonly key: CryptoKey;
}

export interface KeyRing {
  /** Undefined when every key is verify-only. */
  readonly signing?: SigningKey;
  readonly byKid: ReadonlyMap<string, VerifyKey>;
  /** The algorithms of the listed keys: the verification allow-list. */
  readonly algorithms: readonly Algorithm[];
  /** The public keys as published at the JWKS endpoint (RFC 7517), active key first. */
  readonly jwks: { readonly keys: readonly JWK[] };
}

/** The public members of each key type (RFC 7518 §6); everything else is dropped before publishing. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

/** Keeps only the public members of a JWK; undefined for symmetric or unknown key types. */
export function publicMembers(jwk: JWK): JWK | undefined {
  const members = jwk.kty === undefined ? undefined : PUBLIC_MEMBERS[jwk.kty];
  if (members === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const m of members) if ((jwk as Record<string, unknown>)[m] !== undefined) out[m] = (jwk as Record<string, unknown>)[m];
  return out as JWK;
}

/** What each algorithm expects of a key, for problems that say what is wrong. */
const EXPECTS: Record<Algorithm, { kty: string; crv?: string; label: string }> = {
  RS256: { kty: 'RSA', label: 'an RSA key (2048 bits or more)' },
  PS256: { kty: 'RSA', label: 'an RSA key (2048 bits or more)' },
  ES256: { kty: 'EC', crv: 'P-256', label: 'an EC P-256 key' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', label: 'an Ed25519 key' },
};

function pemProblem(text: string, kind: 'private' | 'public'): string | undefined {
  if (kind === 'private') {
    if (text.includes('-----BEGIN PRIVATE KEY-----')) return undefined;
    if (/-----BEGIN (RSA|EC) PRIVATE KEY-----/.test(text)) {
      return 'expected PKCS#8 ("-----BEGIN PRIVATE KEY-----"), received a PKCS#1/SEC1 key; convert it with `openssl pkcs8 -topk8 -nocrypt -in key.pem`';
    }
    if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----'))
      return 'expected an unencrypted PKCS#8 key; encrypted keys are not supported';
    if (text.includes('-----BEGIN PUBLIC KEY-----')) return 'expected a private key, received a public key (put it in publicKey)';
    return 'expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a JWK object';
  }
  if (text.includes('-----BEGIN PUBLIC KEY-----')) return undefined;
  if (text.includes('PRIVATE KEY-----')) return 'expected a public key, received a private key';
  if (text.includes('-----BEGIN CERTIFICATE-----'))
    return 'expected an SPKI public key ("-----BEGIN PUBLIC KEY-----"); extract it with `openssl x509 -pubkey -noout -in cert.pem`';
  return 'expected an SPKI PEM ("-----BEGIN PUBLIC KEY-----") or a JWK object';
}

/** Checks a JWK's own metadata against the config entry. */
function jwkProblem(jwk: JWK, cfg: KeyConfig, kind: 'private' | 'public'): string | undefined {
  const want = EXPECTS[cfg.alg];
  if (jwk.kty !== want.kty || (want.crv !== undefined && jwk.crv !== want.crv))
    return `expected ${want.label} for ${cfg.alg}, received kty ${JSON.stringify(jwk.kty)}${jwk.crv ? ` crv ${JSON.stringify(jwk.crv)}` : ''}`;
  if (jwk.alg !== undefined && jwk.alg !== cfg.alg)
    return `the JWK says alg ${JSON.stringify(jwk.alg)} but the key is configured as ${cfg.alg}`;
  if (jwk.use !== undefined && jwk.use !== 'sig') return `expected a signing key (use "sig"), received use ${JSON.stringify(jwk.use)}`;
  if (jwk.kid !== undefined && jwk.kid !== cfg.kid)
    return `the JWK says kid ${JSON.stringify(jwk.kid)} but the key is configured as ${JSON.stringify(cfg.kid)}`;
  if (kind === 'private' && jwk.d === undefined) return 'expected a private JWK (with "d"), received a public one (put it in publicKey)';
  if (kind === 'public' && jwk.d !== undefined)
    return 'expected a public JWK; this one holds private material ("d"), which belongs in privateKey only';
  return undefined;
}

function why(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 120 ? `${msg.slice(0, 117)}...` : msg;
}

function keySizeProblem(key: CryptoKey, alg: Algorithm): string | undefined {
  if (EXPECTS[alg].kty !== 'RSA') return undefined;
  const bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  return bits < 2048 ? `expected an RSA key of 2048 bits or more, received ${bits} bits` : undefined;
}

interface Imported {
  verify: CryptoKey;
  sign?: CryptoKey;
  publicJwk: JWK;
}

/** Imports one configured key, or returns problems naming their path. */
async function importOne(cfg: KeyConfig, path: string): Promise<Imported | string[]> {
  const problems: string[] = [];
  let sign: CryptoKey | undefined;
  let fromPrivate: JWK | undefined;
  if (cfg.privateKey !== undefined) {
    const at = `${path}.privateKey`;
    try {
      let extractable: CryptoKey | undefined;
      if (typeof cfg.privateKey === 'string') {
        const p = pemProblem(cfg.privateKey, 'private');
        if (p !== undefined) problems.push(`${at}: ${p}`);
        else {
          // Imported extractable only long enough to derive the public half; the signing copy is not.
          extractable = await importPKCS8(cfg.privateKey, cfg.alg, { extractable: true });
          sign = await importPKCS8(cfg.privateKey, cfg.alg, { extractable: false });
        }
      } else {
        const jwk = cfg.privateKey as JWK;
        const p = jwkProblem(jwk, cfg, 'private');
        if (p !== undefined) problems.push(`${at}: ${p}`);
        else {
          extractable = (await importJWK(jwk, cfg.alg, { extractable: true })) as CryptoKey;
          sign = (await importJWK(jwk, cfg.alg, { extractable: false })) as CryptoKey;
        }
      }
      if (extractable !== undefined) {
        const size = keySizeProblem(extractable, cfg.alg);
        if (size !== undefined) problems.push(`${at}: ${size}`);
        fromPrivate = publicMembers(await exportJWK(extractable));
        if (fromPrivate === undefined) problems.push(`${at}: expected ${EXPECTS[cfg.alg].label}`);
      }
    } catch (err) {
      problems.push(`${at}: expected ${EXPECTS[cfg.alg].label} for ${cfg.alg}, which this is not (${why(err)})`);
    }
  }

  let fromPublic: JWK | undefined;
  if (cfg.publicKey !== undefined) {
    const at = `${path}.publicKey`;
    try {
      let key: CryptoKey | undefined;
      if (typeof cfg.publicKey === 'string') {
        const p = pemProblem(cfg.publicKey, 'public');
        if (p !== undefined) problems.push(`${at}: ${p}`);
        else key = await importSPKI(cfg.publicKey, cfg.alg, { extractable: true });
      } else {
        const jwk = cfg.publicKey as JWK;
        const p = jwkProblem(jwk, cfg, 'public');
        if (p !== undefined) problems.push(`${at}: ${p}`);
        else key = (await importJWK(jwk, cfg.alg, { extractable: true })) as CryptoKey;
      }
      if (key !== undefined) {
        const size = keySizeProblem(key, cfg.alg);
        if (size !== undefined) problems.push(`${at}: ${size}`);
        fromPublic = publicMembers(await exportJWK(key));
        if (fromPublic === undefined) problems.push(`${at}: expected ${EXPECTS[cfg.alg].label}`);
      }
    } catch (err) {
      problems.push(`${at}: expected ${EXPECTS[cfg.alg].label} for ${cfg.alg}, which this is not (${why(err)})`);
    }
  }

  if (fromPrivate !== undefined && fromPublic !== undefined && JSON.stringify(fromPrivate) !== JSON.stringify(fromPublic)) {
    problems.push(`${path}.publicKey: does not match privateKey (leave publicKey out and it is derived)`);
  }
  if (problems.length > 0) return problems;
  const publicJwk = (fromPublic ?? fromPrivate) as JWK;
  // The verifying key is imported from the public half only, so verification never touches private material.
  const verify = (await importJWK(publicJwk, cfg.alg, { extractable: false })) as CryptoKey;
  return { verify, sign, publicJwk };
}

/**
 * Imports every configured key once. Throws ConfigError listing every problem, each with its path
 * (`session.keys[0].privateKey: ...`); a gateway never starts with a key it cannot use.
 */
export async function importKeys(keys: readonly KeyConfig[], path = 'session.keys'): Promise<KeyRing> {
  const results = await Promise.all(keys.map((k, i) => importOne(k, `${path}[${i}]`)));
  const problems = results.flatMap((r) => (Array.isArray(r) ? r : []));
  if (problems.length > 0) throw new ConfigError(problems);

  const byKid = new Map<string, VerifyKey>();
  const published: JWK[] = [];
  let signing: SigningKey | undefined;
  // The active key signs; without one marked, the first key that has a private half does.
  const activeIndex = keys.findIndex((k) => k.active === true);
  const signIndex = activeIndex >= 0 ? activeIndex : keys.findIndex((k) => k.privateKey !== undefined);
  results.forEach((r, i) => {
    const imported = r as Imported;
    const cfg = keys[i];
    byKid.set(cfg.kid, { kid: cfg.kid, alg: cfg.alg, key: imported.verify });
    const entry: JWK = { ...imported.publicJwk, kid: cfg.kid, alg: cfg.alg, use: 'sig' };
    if (i === signIndex) {
      signing = { kid: cfg.kid, alg: cfg.alg, key: imported.sign as CryptoKey };
      published.unshift(entry);
    } else published.push(entry);
  });
  const algorithms = [...new Set(keys.map((k) => k.alg))];
  return Object.freeze({ signing, byKid, algorithms, jwks: Object.freeze({ keys: Object.freeze(published) }) });
}

export interface GeneratedKey {
  kid: string;
  alg: Algorithm;
  privateKeyPem: string;
  publicKeyPem: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

/**
 * Generates a fresh key pair for `alg`. The kid is the RFC 7638 thumbprint of the public key, so
 * it is stable for the key and unique without coordination.
 */
export async function keygen(alg: Algorithm, kid?: string): Promise<GeneratedKey> {
  const options = alg === 'RS256' || alg === 'PS256' ? { extractable: true, modulusLength: 2048 } : { extractable: true };
  const { privateKey, publicKey } = await generateKeyPair(alg, options);
  const pub = publicMembers(await exportJWK(publicKey)) as JWK;
  const id = kid ?? (await calculateJwkThumbprint(pub, 'sha256'));
  return {
    kid: id,
    alg,
    privateKeyPem: await exportPKCS8(privateKey),
    publicKeyPem: await exportSPKI(publicKey),
    privateJwk: { ...(await exportJWK(privateKey)), kid: id, alg, use: 'sig' },
    publicJwk: { ...pub, kid: id, alg, use: 'sig' },
  };
}
