// An external identity provider's JWKS: keys cached by kid, stale-while-revalidate, rate-limited refetch.

import type { JWK } from 'jose';
import { importJWK } from 'jose';
import { GatewayError } from '../errors.ts';
import { publicMembers } from './keys.ts';
import type { Algorithm, RemoteJwksConfig } from './schema.ts';
import { invalidCredential, type KeyResolver } from './tokens.ts';

export interface RemoteJwksDeps {
  fetch: typeof fetch;
  now: () => number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface RemoteJwks {
  /** Resolves a token header to a key; fetches on first use or on an unknown kid (rate-limited). */
  readonly resolve: KeyResolver;
  /** Fetches the set now (deduplicated with a fetch in flight). */
  refresh(): Promise<void>;
  /** For tests and health output. */
  readonly state: () => { kids: string[]; fetchedAt?: number; lastAttempt?: number };
}

/** A JWKS larger than this is refused; real ones are a few KiB. */
const MAX_JWKS_BYTES = 512 * 1024;

/** Which of our algorithms a JWK can serve when it names none itself. */
function algorithmsFor(jwk: JWK): Algorithm[] {
  if (jwk.kty === 'RSA') return ['RS256', 'PS256'];
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return ['ES256'];
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return ['EdDSA'];
  return [];
}

/** kid ('' for keys without one) → alg → key. */
type KeySet = Map<string, Map<string, CryptoKey>>;

export function remoteJwks(config: RemoteJwksConfig, deps: RemoteJwksDeps): RemoteJwks {
  const allowed = new Set<string>(config.algorithms);
  let keys: KeySet = new Map();
  let fetchedAt: number | undefined;
  let lastAttempt: number | undefined;
  let inflight: Promise<void> | undefined;

  async function load(): Promise<void> {
    lastAttempt = deps.now();
    const res = await deps.fetch(config.url, {
      headers: { accept: 'application/jwk-set+json, application/json' },
      signal: AbortSignal.timeout(config.timeout),
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`JWKS answered ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MAX_JWKS_BYTES) {
      await res.body?.cancel();
      throw new Error('JWKS too large');
    }
    const text = await res.text();
    if (text.length > MAX_JWKS_BYTES) throw new Error('JWKS too large');
    const doc = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(doc.keys)) throw new Error('JWKS has no "keys" array');

    const next: KeySet = new Map();
    let count = 0;
    for (const raw of doc.keys as JWK[]) {
      if (raw === null || typeof raw !== 'object') continue;
      // Only signature keys; a symmetric ("oct") key would reopen the HS256-with-public-key attack.
      if (raw.use !== undefined && raw.use !== 'sig') continue;
      if (Array.isArray(raw.key_ops) && !raw.key_ops.includes('verify')) continue;
      const pub = publicMembers(raw);
      if (pub === undefined) continue;
      const algs = raw.alg !== undefined ? [raw.alg] : algorithmsFor(raw);
      const kid = typeof raw.kid === 'string' ? raw.kid : '';
      for (const alg of algs) {
        if (!allowed.has(alg) || !algorithmsFor(raw).includes(alg as Algorithm)) continue;
        try {
          const key = (await importJWK(pub, alg, { extractable: false })) as CryptoKey;
          if (alg.startsWith('RS') || alg.startsWith('PS')) {
            if ((key.algorithm as RsaHashedKeyAlgorithm).modulusLength < 2048) continue;
          }
          const byAlg = next.get(kid) ?? new Map<string, CryptoKey>();
          next.set(kid, byAlg);
          byAlg.set(alg, key);
          count++;
        } catch {
          // One bad key does not spoil the set; it is simply unusable.
        }
      }
    }
    if (count === 0) throw new Error('JWKS has no usable signing key');
    keys = next;
    fetchedAt = deps.now();
  }

  function refresh(): Promise<void> {
    inflight ??= load().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  /** Starts a refresh in the background; failures keep the old keys and are logged. */
  function revalidate(): void {
    refresh().catch((err: unknown) =>
      deps.log?.('jwks refresh failed; serving cached keys', { url: config.url, error: String((err as Error)?.message ?? err) }),
    );
  }

  function coolingDown(now: number): boolean {
    return lastAttempt !== undefined && now - lastAttempt < config.cooldown;
  }

  function find(kid: string | undefined, alg: string): CryptoKey | undefined {
    if (kid !== undefined) return keys.get(kid)?.get(alg);
    // No kid: accepted only when the set holds exactly one key for this alg, as RFC 7515 §4.1.4
    // leaves key selection to the verifier; trying every key would multiply the cost of a forgery.
    let only: CryptoKey | undefined;
    for (const byAlg of keys.values()) {
      const k = byAlg.get(alg);
      if (k === undefined) continue;
      if (only !== undefined) return undefined;
      only = k;
    }
    return only;
  }

  const resolve: KeyResolver = async (header) => {
    const alg = header.alg;
    if (typeof alg !== 'string' || !allowed.has(alg)) throw invalidCredential('alg-not-allowed');
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const now = deps.now();

    if (fetchedAt === undefined) {
      // Nothing cached yet: wait for the first fetch, but do not hammer a provider that just failed.
      if (inflight === undefined && coolingDown(now)) throw jwksUnavailable();
      try {
        await refresh();
      } catch (err) {
        deps.log?.('jwks fetch failed', { url: config.url, error: String((err as Error)?.message ?? err) });
        throw jwksUnavailable();
      }
    } else if (now - fetchedAt >= config.cacheTtl && inflight === undefined && !coolingDown(now)) {
      revalidate();
    }

    const key = find(kid, alg);
    if (key !== undefined) return key;

    // Unknown kid: the provider may have rotated. Refetch, but at most once per cooldown, so a
    // stream of forged kids costs the provider one request per interval.
    if (inflight !== undefined) {
      await inflight.catch(() => undefined);
    } else if (!coolingDown(now)) {
      await refresh().catch((err: unknown) =>
        deps.log?.('jwks refetch failed', { url: config.url, error: String((err as Error)?.message ?? err) }),
      );
    } else {
      throw invalidCredential('kid-unknown');
    }
    const after = find(kid, alg);
    if (after === undefined) throw invalidCredential('kid-unknown');
    return after;
  };

  return {
    resolve,
    refresh,
    state: () => ({ kids: [...keys.keys()], fetchedAt, lastAttempt }),
  };
}

/** The provider's keys cannot be had: a dependency failure (503), not the client's fault. */
function jwksUnavailable(): GatewayError {
  const err = new GatewayError('storeUnavailable');
  err.cause = 'jwks-unavailable';
  return err;
}
