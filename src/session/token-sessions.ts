// Opaque token sessions, the original gateway's double lock: the client's token names a store key
// (lock 1) whose value is a JWT that must verify and carry a user id (lock 2). The key's TTL slides on
// every use; the JWT is re-signed only once more than half of its life is spent.
//
// Hot path: ONE store round trip (GET + PEXPIRE, in the request's batch with its rate limits), then the
// signature check on the value read. Extra writes happen only on the rare paths: the re-sign at
// half-life and the deletion of an invalid session, each a compare-and-set so that neither can
// resurrect a session deleted in between, nor overwrite one another request has just re-signed.
import { importPKCS8, importSPKI, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { ConfigError } from '../config/load.ts';
import type { RouteConfig } from '../config/schema.ts';
import type { RequestContext, StoreStep } from '../context.ts';
import { GatewayError, StoreError } from '../errors.ts';
import { defineScript, type Store } from '../store/store.ts';
import { headerValue } from './credentials.ts';
import type { TokenSessionsConfig } from './schema.ts';
import { invalidCredential } from './tokens.ts';

export type { TokenSessionsConfig } from './schema.ts';

/**
 * Compare-and-set on a session key: writes (or, with an empty new value, deletes) only while the key
 * still holds the value this request read.
 * KEYS[1] session key · ARGV[1] the value read · ARGV[2] the new value, "" to delete · ARGV[3] TTL in ms
 */
export const sessionCas = defineScript<number>(
  'token-session-cas',
  `local key, seen, value, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call('GET', key) ~= seen then return 0 end
if value == '' then redis.call('DEL', key) else redis.call('SET', key, value, 'PX', ttl) end
return 1`,
  (data, [key], [seen, value, ttl]) => {
    if (data.get(key) !== seen) return 0;
    if (value === '') data.del(key);
    else data.set(key, value, Number(ttl));
    return 1;
  },
);

export interface TokenSessionDeps {
  store: Store;
  /** The clock, ms since the epoch. */
  now: () => number;
  /** Random bytes for tokens made by `issue`. */
  randomBytes?: (length: number) => Uint8Array;
  /** Failures an operator should see; never given a token or a JWT. */
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface IssuedTokenSession {
  token: string;
  /** The JWT stored under the token's key. */
  jwt: string;
}

export interface TokenSessions {
  /** The upstream header carrying the user id; the gateway strips client-sent copies on every route. */
  readonly identityHeaderNames: readonly string[];
  /**
   * Lock 1 and 2 of an `auth: "token"` route as one StoreStep (GET + PEXPIRE; `apply` verifies).
   * Throws GatewayError('invalidCredential') at once, without a store call, when the token is
   * missing, empty or malformed.
   */
  authenticate(ctx: RequestContext): StoreStep;
  /**
   * Writes a session the way the original's user service did: `SET <prefix><token> <JWT with the user id>`
   * with the TTL. For tools and tests; the token is random unless given.
   */
  issue(userId: string | number, options?: { token?: string; claims?: Record<string, unknown> }): Promise<IssuedTokenSession>;
  /** Deletes a session; true when it existed. */
  revoke(token: string): Promise<boolean>;
}

/** Visible ASCII without spaces: what a header can carry as one token and a store key can hold as is. */
const TOKEN = /^[\x21-\x7e]+$/;

/** Problems in how routes use token sessions, each naming its path. */
export function tokenSessionRouteProblems(config: TokenSessionsConfig | undefined, routes: readonly RouteConfig[]): string[] {
  if (config !== undefined) return [];
  return routes.flatMap((r, i) =>
    r.auth === 'token' ? [`routes[${i}].auth: "token" needs tokenSessions (the store key prefix and the keys)`] : [],
  );
}

function storeUnavailable(error: unknown): GatewayError {
  const err = new GatewayError('storeUnavailable');
  err.cause = error instanceof StoreError ? `store-${error.reason}` : 'store-error';
  return err;
}

function why(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 120 ? `${msg.slice(0, 117)}...` : msg;
}

function pemProblem(text: string, kind: 'private' | 'public'): string | undefined {
  if (kind === 'private') {
    if (text.includes('-----BEGIN PRIVATE KEY-----')) return undefined;
    if (/-----BEGIN (RSA|EC) PRIVATE KEY-----/.test(text))
      return 'expected PKCS#8 ("-----BEGIN PRIVATE KEY-----"); convert it with `openssl pkcs8 -topk8 -nocrypt -in key.pem`';
    if (text.includes('PUBLIC KEY-----')) return 'expected a private key, received a public key';
    return 'expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----")';
  }
  if (text.includes('-----BEGIN PUBLIC KEY-----')) return undefined;
  if (text.includes('-----BEGIN RSA PUBLIC KEY-----'))
    return 'expected SPKI ("-----BEGIN PUBLIC KEY-----"); convert it with `openssl rsa -RSAPublicKey_in -pubout -in key.pem`';
  if (text.includes('PRIVATE KEY-----')) return 'expected a public key, received a private key';
  return 'expected an SPKI PEM ("-----BEGIN PUBLIC KEY-----")';
}

interface Keys {
  verify: CryptoKey;
  sign?: CryptoKey;
}

/** Imports both keys once and proves they are a pair; throws ConfigError naming every problem. */
async function importKeys(config: TokenSessionsConfig): Promise<Keys> {
  const problems: string[] = [];
  const alg = config.algorithm;
  let verify: CryptoKey | undefined;
  let sign: CryptoKey | undefined;
  const pub = pemProblem(config.publicKey, 'public');
  if (pub !== undefined) problems.push(`tokenSessions.publicKey: ${pub}`);
  else {
    try {
      verify = await importSPKI(config.publicKey, alg);
    } catch (err) {
      problems.push(`tokenSessions.publicKey: not a key for ${alg} (${why(err)})`);
    }
  }
  if (config.privateKey !== undefined) {
    const priv = pemProblem(config.privateKey, 'private');
    if (priv !== undefined) problems.push(`tokenSessions.privateKey: ${priv}`);
    else {
      try {
        sign = await importPKCS8(config.privateKey, alg);
      } catch (err) {
        problems.push(`tokenSessions.privateKey: not a key for ${alg} (${why(err)})`);
      }
    }
  }
  if (verify !== undefined && sign !== undefined) {
    // A pair that does not match would make every re-signed session invalid at its next use.
    const probe = await new SignJWT({ probe: true }).setProtectedHeader({ alg }).sign(sign);
    try {
      await jwtVerify(probe, verify, { algorithms: [alg] });
    } catch {
      problems.push('tokenSessions.publicKey: does not match privateKey (a JWT signed with one does not verify with the other)');
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { verify: verify as CryptoKey, sign };
}

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The user id a verified payload carries: a non-empty string or a finite number, as text. */
function userIdOf(payload: JWTPayload, claim: string): string | undefined {
  const v = payload[claim];
  if (typeof v === 'string') return v.trim() === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/**
 * Builds the feature once at start-up (keys imported and checked as a pair). Returns undefined when no
 * route needs it and it is not configured; throws ConfigError when a route needs what the config lacks.
 */
export async function createTokenSessions(
  config: TokenSessionsConfig | undefined,
  routes: readonly RouteConfig[],
  deps: TokenSessionDeps,
): Promise<TokenSessions | undefined> {
  const problems = tokenSessionRouteProblems(config, routes);
  if (problems.length > 0) throw new ConfigError(problems);
  if (config === undefined) return undefined;
  const keys = await importKeys(config);
  const { store } = deps;
  const log = deps.log ?? (() => undefined);
  const randomBytes = deps.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  const alg = config.algorithm;
  const header = config.header;
  const ttlMs = config.ttl;
  const ttlSeconds = Math.ceil(ttlMs / 1000);
  const userHeader = config.userHeader;
  const keyOf = (token: string) => config.keyPrefix + token;

  async function sign(claims: JWTPayload, nowMs: number): Promise<string> {
    const iat = Math.floor(nowMs / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg, typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttlSeconds)
      .sign(keys.sign as CryptoKey);
  }

  /** More than half of the JWT's life spent (or no life recorded): worth a fresh expiry. */
  function halfSpent(payload: JWTPayload, nowMs: number): boolean {
    const { iat, exp } = payload;
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= iat) return true;
    return nowMs / 1000 - iat > (exp - iat) / 2;
  }

  async function cas(key: string, seen: string, value: string): Promise<void> {
    await store.batch([{ op: 'eval', script: sessionCas, keys: [key], args: [seen, value, String(ttlMs)] }] as const);
  }

  /** Deletes a session found invalid; a failure is logged, the client gets 99999 either way. */
  async function discard(key: string, seen: string, reason: string): Promise<never> {
    try {
      await cas(key, seen, '');
    } catch (err) {
      log('could not delete an invalid token session', { reason, error: why(err) });
    }
    throw invalidCredential(reason);
  }

  function authenticate(ctx: RequestContext): StoreStep {
    const token = ctx.request.headers.get(header)?.trim() ?? '';
    if (token === '') throw invalidCredential('missing');
    if (token.length > config!.maxTokenBytes || !TOKEN.test(token)) throw invalidCredential('token-malformed');
    const key = keyOf(token);
    return {
      // The PEXPIRE on a key that then fails verification is harmless: apply deletes it next.
      commands: [
        { op: 'get', key },
        { op: 'pexpire', key, ttlMs },
      ],
      async apply(results) {
        const raw = results[0];
        if (typeof raw !== 'string' || raw === '') throw invalidCredential('session-missing');
        let payload: JWTPayload;
        try {
          ({ payload } = await jwtVerify(raw, keys.verify, { algorithms: [alg], currentDate: new Date(ctx.now) }));
        } catch {
          return discard(key, raw, 'session-jwt-invalid');
        }
        const userId = userIdOf(payload, config!.userClaim);
        if (userId === undefined) return discard(key, raw, 'session-without-user');
        ctx.identity = { sub: userId, claims: payload };
        const value = headerValue(userId);
        if (value !== undefined) ctx.upstreamHeaders.set(userHeader, value);
        if (keys.sign !== undefined && halfSpent(payload, ctx.now)) {
          const { iat: _iat, exp: _exp, ...claims } = payload;
          try {
            await cas(key, raw, await sign(claims, ctx.now));
          } catch (err) {
            // The session stays valid (its TTL was reset in the batch); the next request tries again.
            log('could not re-sign a token session', { error: why(err) });
          }
        }
      },
      fail(error) {
        // Fail closed: without the store there is no session to check.
        throw storeUnavailable(error);
      },
    };
  }

  async function issue(
    userId: string | number,
    options: { token?: string; claims?: Record<string, unknown> } = {},
  ): Promise<IssuedTokenSession> {
    if (keys.sign === undefined) throw new GatewayError('internal', { reason: 'tokenSessions.privateKey is not set' });
    const token = options.token ?? base64url(randomBytes(32));
    if (!TOKEN.test(token) || token.length > config!.maxTokenBytes) throw new GatewayError('internal', { reason: 'unusable token' });
    const jwt = await sign({ ...options.claims, [config!.userClaim]: userId }, deps.now());
    try {
      await store.batch([{ op: 'set', key: keyOf(token), value: jwt, ttlMs }] as const);
    } catch (err) {
      throw storeUnavailable(err);
    }
    return { token, jwt };
  }

  async function revoke(token: string): Promise<boolean> {
    try {
      const [n] = await store.batch([{ op: 'del', key: keyOf(token) }] as const);
      return n > 0;
    } catch (err) {
      throw storeUnavailable(err);
    }
  }

  return Object.freeze({ identityHeaderNames: Object.freeze([userHeader]), authenticate, issue, revoke });
}
