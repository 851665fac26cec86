// Signing and verifying session JWTs: allow-listed asymmetric algorithms, kid lookup, claim checks.

import type { JWTPayload } from 'jose';
import { jwtVerify, SignJWT } from 'jose';
import { GatewayError } from '../errors.ts';
import type { SigningKey, VerifyKey } from './keys.ts';

/**
 * The one failure of credential checks. `cause` holds a short internal reason (for a debug log
 * field); the client sees only `{ code: 99999, message }`. Neither ever contains the token.
 */
export function invalidCredential(reason: string): GatewayError {
  const err = new GatewayError('invalidCredential');
  err.cause = reason;
  return err;
}

/** A JWS in compact form: three base64url segments, none empty (so `alg: none` with no signature fails here). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface SignOptions {
  issuer: string;
  audience: string | readonly string[];
  /** Seconds from `iat` to `exp`. */
  lifetimeSeconds: number;
}

export interface SessionClaims {
  sub: string;
  sid: string;
  /** Copied from the login reply; reserved claims were refused by the config. */
  extra?: Record<string, unknown>;
}

/** Signs a session token: `sub`, `sid`, `iat`, `exp`, `iss`, `aud` and extras, header `alg` + `kid`. */
export async function signToken(key: SigningKey, claims: SessionClaims, options: SignOptions, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({ ...claims.extra, sid: claims.sid })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(options.issuer)
    .setAudience(options.audience as string | string[])
    .setIssuedAt(iat)
    .setExpirationTime(iat + options.lifetimeSeconds)
    .sign(key.key);
}

/** The protected header as jose hands it to a key resolver: not yet authenticated. */
export interface UnverifiedHeader {
  alg?: string;
  kid?: string;
}

/** Finds the verification key for a header, or throws `invalidCredential`. */
export type KeyResolver = (header: UnverifiedHeader) => CryptoKey | Promise<CryptoKey>;

export interface VerifyOptions {
  /** The allow-list; jose refuses any other `alg` before a key is looked up. */
  algorithms: readonly string[];
  issuer: string | readonly string[];
  audience: string | readonly string[];
  clockSkewMs: number;
  /** Checked on the raw string before any decoding. */
  maxTokenBytes: number;
  /** Claims that must be present, beyond iss/aud. */
  requiredClaims: readonly string[];
}

/** Maps jose's stable error codes to short internal reasons. */
function reasonOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
      const claim = (err as { claim?: unknown }).claim;
      return typeof claim === 'string' ? `claim-${claim}` : 'claim';
    }
    return code.replace(/^ERR_/, '').toLowerCase().replace(/_/g, '-');
  }
  // Web Crypto and base64 errors carry no code; their messages could quote input, so they are not kept.
  return 'malformed';
}

/**
 * Verifies a compact JWS token and its claims at `nowMs`. Every failure throws
 * `invalidCredential(reason)`: size cap, shape, algorithm allow-list, key lookup, signature,
 * `exp`/`nbf`/`iat` with skew, `iss`, `aud` and required claims.
 */
export async function verifyToken(token: string, resolve: KeyResolver, options: VerifyOptions, nowMs: number): Promise<JWTPayload> {
  // Length first: an oversized token costs nothing beyond this comparison.
  if (token.length > options.maxTokenBytes) throw invalidCredential('too-large');
  if (!COMPACT_JWS.test(token)) throw invalidCredential('malformed');
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, resolve, {
      algorithms: options.algorithms as string[],
      issuer: options.issuer as string | string[],
      audience: options.audience as string | string[],
      clockTolerance: options.clockSkewMs / 1000,
      currentDate: new Date(nowMs),
      requiredClaims: options.requiredClaims as string[],
    }));
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw invalidCredential(reasonOf(err));
  }
  // jose accepts an `iat` in the future; a token from the future means a wrong clock or a forged issuer.
  if (typeof payload.iat === 'number' && payload.iat * 1000 > nowMs + options.clockSkewMs) throw invalidCredential('iat-future');
  if (typeof payload.sub !== 'string' || payload.sub === '') throw invalidCredential('sub-missing');
  return payload;
}

/**
 * The resolver for the gateway's own keys. A token must name its key: the gateway always sets
 * `kid`, so a kid-less token did not come from it, and trying every key would let one forged
 * token cost as many signature checks as there are keys. The header's `alg` must be the key's.
 */
export function ownKeyResolver(byKid: ReadonlyMap<string, VerifyKey>): KeyResolver {
  return (header) => {
    if (typeof header.kid !== 'string') throw invalidCredential('kid-missing');
    const entry = byKid.get(header.kid);
    if (entry === undefined) throw invalidCredential('kid-unknown');
    if (entry.alg !== header.alg) throw invalidCredential('alg-mismatch');
    return entry.key;
  };
}
