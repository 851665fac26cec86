// Lock 1's memo: own-session tokens whose signature and claims were verified, so that a token seen
// again skips the signature check (ES256: ~100 µs of CPU). Lock 2 (the store record and the user's
// revocation stamp) still runs on every request, so revocation stays immediate.
import type { JWTPayload } from 'jose';
import { invalidCredential } from './tokens.ts';

/** An entry is trusted at most this long after its verification (and never past its `exp`). */
export const VERIFIED_TTL_MS = 60_000;
/** Entries kept; past it the oldest is dropped. Only tokens with a valid signature get in. */
export const VERIFIED_MAX_ENTRIES = 10_000;

interface Entry {
  payload: JWTPayload;
  /** ms since the epoch after which the entry is not used (min of exp and verification + TTL). */
  until: number;
}

/**
 * The time-based claims, as jose checks them (whole seconds, `clockSkewMs` either way) plus the
 * gateway's `iat` in the future; run on every cache hit against the request's clock.
 */
export function checkTimeClaims(payload: JWTPayload, nowMs: number, clockSkewMs: number): void {
  const now = Math.floor(nowMs / 1000);
  const tolerance = clockSkewMs / 1000;
  if (typeof payload.nbf === 'number' && payload.nbf > now + tolerance) throw invalidCredential('claim-nbf');
  if (typeof payload.exp === 'number' && payload.exp <= now - tolerance) throw invalidCredential('jwt-expired');
  if (typeof payload.iat === 'number' && payload.iat * 1000 > nowMs + clockSkewMs) throw invalidCredential('iat-future');
}

export interface VerifiedCache {
  /** The payload of a token verified before, its time claims checked at `nowMs`; undefined when not cached. */
  get(token: string, nowMs: number): JWTPayload | undefined;
  /** Remembers a token that passed full verification. Failures are never remembered. */
  set(token: string, payload: JWTPayload, nowMs: number): void;
  readonly size: number;
}

export function verifiedCache(clockSkewMs: number, maxEntries = VERIFIED_MAX_ENTRIES, ttlMs = VERIFIED_TTL_MS): VerifiedCache {
  // A Map iterates in insertion order: its first key is the oldest entry.
  const entries = new Map<string, Entry>();
  return {
    get(token, nowMs) {
      const e = entries.get(token);
      if (e === undefined) return undefined;
      if (nowMs >= e.until) {
        entries.delete(token);
        return undefined;
      }
      checkTimeClaims(e.payload, nowMs, clockSkewMs);
      return e.payload;
    },
    set(token, payload, nowMs) {
      const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : nowMs;
      const until = Math.min(exp, nowMs + ttlMs);
      if (until <= nowMs) return;
      entries.delete(token);
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(token, { payload: Object.freeze(payload), until });
    },
    get size() {
      return entries.size;
    },
  };
}
