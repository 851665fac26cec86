// Double-lock sessions: JWT (lock 1, CPU only) + store record (lock 2, in the request's one round trip),
// login, logout, revocation, JWKS and the admin revoke endpoint; plus `auth: "jwt"` via a remote JWKS.
import type { Env, Hono, Schema } from 'hono';
import { ConfigError } from '../config/load.ts';
import type { RouteConfig } from '../config/schema.ts';
import type { Identity, RequestContext, StoreStep } from '../context.ts';
import { errorResponse, GatewayError, StoreError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import { readToken, setIdentityHeaders, type TokenSources } from './credentials.ts';
import { importKeys, type KeyRing } from './keys.ts';
import { getPointer, setPointer } from './pointer.ts';
import { type RemoteJwks, remoteJwks } from './remote-jwks.ts';
import { claimName, type SessionConfig } from './schema.ts';
import { invalidCredential, ownKeyResolver, signToken, type VerifyOptions, verifyToken } from './tokens.ts';
import { verifiedCache } from './verified-cache.ts';

export type { GeneratedKey, KeyRing } from './keys.ts';
export { importKeys, keygen } from './keys.ts';
export type { SessionConfig } from './schema.ts';
export { invalidCredential, signToken, verifyToken } from './tokens.ts';

export interface SessionDeps {
  /** Holds `sess:<sid>` records and `rev:<sub>` revocation stamps. */
  store: Store;
  /** The clock, ms since the epoch. */
  now: () => number;
  /** For the remote JWKS of `auth: "jwt"` routes. */
  fetch: typeof fetch;
  /**
   * Cryptographically random bytes for session ids. Named apart from the gateway's `random`
   * (a Math.random-like number source for balancing), which must never make a session id.
   */
  randomBytes?: (length: number) => Uint8Array;
  /** Operational warnings (JWKS refresh failures, unusable login replies). Never given a token. */
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface IssuedSession {
  token: string;
  sid: string;
  sub: string;
  /** When the JWT expires (absolute lifetime), ms since the epoch. */
  expiresAt: number;
}

export interface Sessions {
  /** Upstream header names the session feature sets; the gateway strips client-sent copies. */
  readonly identityHeaderNames: readonly string[];
  /**
   * Lock 1 for `auth: "session"` routes (token, signature, claims; sets `ctx.identity` and the
   * identity headers) and the StoreStep for lock 2. `auth: "jwt"` routes verify against the
   * remote JWKS and need no store step; public routes return undefined.
   * Throws GatewayError('invalidCredential') on any credential failure.
   */
  authenticate(ctx: RequestContext, routeIndex: number): Promise<StoreStep | undefined>;
  /** On a login route, turns a 2xx JSON reply carrying a user id into a session; else passes it through. */
  completeLogin(ctx: RequestContext, routeIndex: number, upstream: Response): Promise<Response>;
  /** Revokes the request's session (already done within the store step on a logout route) and clears the cookie. */
  logout(ctx: RequestContext): Promise<void>;
  /** Creates a session for `sub` directly (login without an upstream; tests, tools). */
  issue(sub: string, extra?: Record<string, unknown>): Promise<IssuedSession>;
  /** Deletes one session; true when it existed. */
  revokeSession(sid: string): Promise<boolean>;
  /** Revokes every session of `sub` issued until now. */
  revokeUser(sub: string): Promise<void>;
  /** Serves the JWKS and, when `admin.token` is set, `POST /_edgegate/sessions/revoke`. */
  mount<E extends Env, S extends Schema, B extends string>(app: Hono<E, S, B>): void;
}

export const ADMIN_REVOKE_PATH = '/_edgegate/sessions/revoke';
export const sessionKey = (sid: string): string => `sess:${sid}`;
export const revocationKey = (sub: string): string => `rev:${sub}`;

/** Session ids are 144 random bits, base64url: 24 characters. Ours are never shorter than 22. */
const SID_BYTES = 18;
const SID = /^[A-Za-z0-9_-]{22,64}$/;
/** Login replies are small; a bigger one passes through untouched rather than being buffered. */
const MAX_LOGIN_REPLY_BYTES = 1024 * 1024;
const MAX_SUB_LENGTH = 512;
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;

/** The record behind a session; `created` (ms) is compared with the user's revocation stamp. */
interface SessionRecord {
  sub: string;
  created: number;
}

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function storeUnavailable(error: unknown): GatewayError {
  const err = new GatewayError('storeUnavailable');
  err.cause = error instanceof StoreError ? `store-${error.reason}` : 'store-error';
  return err;
}

/** Problems in how routes use sessions, each naming its path; the gateway must not start with any. */
export function sessionRouteProblems(config: SessionConfig | undefined, routes: readonly RouteConfig[]): string[] {
  const problems: string[] = [];
  const hasKeys = (config?.keys.length ?? 0) > 0;
  const canSign = config?.keys.some((k) => k.privateKey !== undefined) ?? false;
  routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (r.auth === 'session' && !hasKeys) problems.push(`${at}.auth: "session" needs session.keys (generate one with \`edgegate keygen\`)`);
    if (r.auth === 'jwt' && config?.remoteJwks === undefined) problems.push(`${at}.auth: "jwt" needs session.remoteJwks`);
    if (r.login !== undefined) {
      if (!canSign) problems.push(`${at}.login: needs a session key with a privateKey to sign tokens`);
      if (r.login.cookie === true && config?.token.cookie === undefined)
        problems.push(`${at}.login.cookie: needs session.token.cookie (the cookie name)`);
      if (r.logout === true) problems.push(`${at}.logout: a route cannot both log in and log out`);
    }
    if (r.logout === true && r.auth !== 'session') problems.push(`${at}.logout: needs auth "session", to know which session to end`);
  });
  return problems;
}

/** Compares two secrets in time independent of where they differ, via fixed-length digests. */
async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}
function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Builds the session feature once at start-up: keys imported, options fixed, remote JWKS set up.
 * Throws ConfigError when keys are unusable or routes need what the config lacks.
 */
export async function createSessions(
  config: SessionConfig | undefined,
  routes: readonly RouteConfig[],
  deps: SessionDeps,
): Promise<Sessions> {
  const problems = sessionRouteProblems(config, routes);
  if (problems.length > 0) throw new ConfigError(problems);
  const ring: KeyRing | undefined = config !== undefined && config.keys.length > 0 ? await importKeys(config.keys) : undefined;
  const randomBytes = deps.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  const log = deps.log ?? (() => undefined);

  const identityMapping = Object.entries(config?.identityHeaders ?? {}) as [string, string][];
  const identityHeaderNames = Object.freeze([...new Set(identityMapping.map(([, h]) => h))]);
  const sources: TokenSources = { bearer: config?.token.bearer ?? true, header: config?.token.header, cookie: config?.token.cookie };
  const lifetimeSeconds = Math.max(1, Math.floor((config?.maxLifetime ?? 0) / 1000));

  const ownOptions: VerifyOptions | undefined =
    ring !== undefined && config !== undefined
      ? {
          algorithms: ring.algorithms,
          issuer: config.issuer as string,
          audience: config.audience as string,
          clockSkewMs: config.clockSkew,
          maxTokenBytes: config.maxTokenBytes,
          requiredClaims: ['sub', 'sid', 'iat', 'exp'],
        }
      : undefined;
  const ownResolver = ring !== undefined ? ownKeyResolver(ring.byKid) : undefined;
  // Own tokens already verified (lock 1 only; never failures): a repeat skips the signature check.
  const verified = ownOptions !== undefined ? verifiedCache(ownOptions.clockSkewMs) : undefined;

  const remote: RemoteJwks | undefined =
    config?.remoteJwks !== undefined ? remoteJwks(config.remoteJwks, { fetch: deps.fetch, now: deps.now, log }) : undefined;
  const remoteOptions: VerifyOptions | undefined =
    config?.remoteJwks !== undefined
      ? {
          algorithms: config.remoteJwks.algorithms,
          issuer: config.remoteJwks.issuer,
          audience: config.remoteJwks.audience,
          clockSkewMs: config.clockSkew,
          maxTokenBytes: config.maxTokenBytes,
          requiredClaims: ['sub', 'exp'],
        }
      : undefined;

  const adminDigest = config?.admin.token !== undefined ? await digest(config.admin.token) : undefined;
  const jwksBody = ring !== undefined ? JSON.stringify(ring.jwks) : undefined;
  // Contexts whose session the logout route's store step already deleted.
  const loggedOut = new WeakSet<RequestContext>();

  function cookieHeader(value: string, maxAgeSeconds: number): string {
    return `${sources.cookie}=${value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=${maxAgeSeconds}`;
  }

  function setIdentity(ctx: RequestContext, identity: Identity): void {
    ctx.identity = identity;
    setIdentityHeaders(ctx.upstreamHeaders, identityMapping, identity.claims);
  }

  async function authenticate(ctx: RequestContext, routeIndex: number): Promise<StoreStep | undefined> {
    const route = routes[routeIndex];
    if (route === undefined || route.auth === 'public') return undefined;
    const token = readToken(ctx.request.headers, sources);

    if (route.auth === 'jwt') {
      const payload = await verifyToken(token, (remote as RemoteJwks).resolve, remoteOptions as VerifyOptions, ctx.now);
      setIdentity(ctx, { sub: payload.sub as string, claims: payload });
      return undefined;
    }

    // Lock 1: signature and claims, CPU only.
    const cfg = config as SessionConfig;
    let payload = verified?.get(token, ctx.now);
    if (payload === undefined) {
      payload = await verifyToken(token, ownResolver!, ownOptions as VerifyOptions, ctx.now);
      verified?.set(token, payload, ctx.now);
    }
    const sid = payload.sid;
    if (typeof sid !== 'string' || !SID.test(sid)) throw invalidCredential('sid-malformed');
    const sub = payload.sub as string;
    // The absolute lifetime counts from `iat` even if maxLifetime was shortened after issue.
    const remaining = (payload.iat as number) * 1000 + cfg.maxLifetime - ctx.now;
    if (remaining <= 0) throw invalidCredential('lifetime-exceeded');
    setIdentity(ctx, { sub, sid, claims: payload });

    // Lock 2 rides in the request's single round trip: the record, the user's revocation stamp,
    // and the sliding refresh (no JWT is re-signed; the record's TTL is what slides).
    const key = sessionKey(sid);
    const logout = route.logout === true;
    const commands = [
      { op: 'get', key },
      { op: 'get', key: revocationKey(sub) },
      { op: 'pexpire', key, ttlMs: Math.min(cfg.ttl, remaining) },
      ...(logout ? [{ op: 'del', key } as const] : []),
    ] as const;
    return {
      commands,
      apply(results) {
        const [raw, stamp] = results as [string | null, string | null];
        if (raw === null) throw invalidCredential('session-missing');
        let record: SessionRecord;
        try {
          record = JSON.parse(raw) as SessionRecord;
        } catch {
          throw invalidCredential('session-corrupt');
        }
        if (record === null || record.sub !== sub || typeof record.created !== 'number') throw invalidCredential('session-mismatch');
        if (stamp !== null && record.created <= Number(stamp)) throw invalidCredential('session-revoked');
        if (logout) loggedOut.add(ctx);
      },
      fail(error) {
        // Fail closed: without lock 2 a revoked session would pass.
        throw storeUnavailable(error);
      },
    };
  }

  async function issue(sub: string, extra?: Record<string, unknown>): Promise<IssuedSession> {
    if (ring?.signing === undefined || config === undefined) throw new GatewayError('internal');
    const now = deps.now();
    const sid = base64url(randomBytes(SID_BYTES));
    const token = await signToken(
      ring.signing,
      { sub, sid, extra },
      { issuer: config.issuer as string, audience: config.audience as string, lifetimeSeconds },
      now,
    );
    if (token.length > config.maxTokenBytes) {
      log('session token exceeds maxTokenBytes; copy fewer claims', { bytes: token.length, max: config.maxTokenBytes });
      throw new GatewayError('networkError');
    }
    const record: SessionRecord = { sub, created: now };
    try {
      await deps.store.batch([{ op: 'set', key: sessionKey(sid), value: JSON.stringify(record), ttlMs: config.ttl }] as const);
    } catch (err) {
      throw storeUnavailable(err);
    }
    return { token, sid, sub, expiresAt: (Math.floor(now / 1000) + lifetimeSeconds) * 1000 };
  }

  /** A reply whose body was read but not changed, minus the headers the re-encoding invalidates. */
  function rebuilt(upstream: Response, body: string, headers = new Headers(upstream.headers)): Response {
    headers.delete('content-length');
    // fetch decoded the body; the encoding header no longer describes it.
    headers.delete('content-encoding');
    return new Response(body, { status: upstream.status, statusText: upstream.statusText, headers });
  }

  async function completeLogin(_ctx: RequestContext, routeIndex: number, upstream: Response): Promise<Response> {
    const login = routes[routeIndex]?.login;
    if (login === undefined || config === undefined) return upstream;
    // Non-2xx, non-JSON and oversized replies pass through as streams, never buffered.
    if (upstream.status < 200 || upstream.status > 299 || upstream.body === null) return upstream;
    if (!JSON_TYPE.test(upstream.headers.get('content-type') ?? '')) return upstream;
    if (Number(upstream.headers.get('content-length') ?? '0') > MAX_LOGIN_REPLY_BYTES) return upstream;

    let text: string;
    try {
      text = await upstream.text();
    } catch {
      throw new GatewayError('networkError');
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return rebuilt(upstream, text);
    }
    const id = getPointer(body, login.userId);
    const sub = typeof id === 'string' ? id : typeof id === 'number' && Number.isFinite(id) ? String(id) : '';
    if (sub === '' || sub.length > MAX_SUB_LENGTH) return rebuilt(upstream, text);

    const extra: Record<string, unknown> = {};
    const parent = login.userId.slice(0, login.userId.lastIndexOf('/'));
    for (const entry of config.claims) {
      const value = getPointer(body, entry.startsWith('/') ? entry : `${parent}/${entry.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      if (value !== undefined) extra[claimName(entry)] = value;
    }
    // Check that the token has a place before creating a session nobody can use.
    if (login.token !== undefined && !setPointer(structuredClone(body), login.token, '')) {
      log('login reply has no place for the token at login.token; no session created', { route: routeIndex });
      return rebuilt(upstream, text);
    }

    const session = await issue(sub, extra);
    const headers = new Headers(upstream.headers);
    // A reply carrying a credential must not be cached (RFC 6749 §5.1 does the same for tokens).
    headers.set('cache-control', 'no-store');
    if (login.cookie === true) headers.append('set-cookie', cookieHeader(session.token, lifetimeSeconds));
    if (login.token !== undefined) {
      setPointer(body, login.token, session.token);
      return rebuilt(upstream, JSON.stringify(body), headers);
    }
    return rebuilt(upstream, text, headers);
  }

  async function logout(ctx: RequestContext): Promise<void> {
    if (sources.cookie !== undefined) ctx.responseHeaders.append('set-cookie', cookieHeader('', 0));
    const sid = ctx.identity?.sid;
    if (sid === undefined || loggedOut.has(ctx)) return;
    await revokeSession(sid);
    loggedOut.add(ctx);
  }

  async function revokeSession(sid: string): Promise<boolean> {
    try {
      const [n] = await deps.store.batch([{ op: 'del', key: sessionKey(sid) }] as const);
      return n > 0;
    } catch (err) {
      throw storeUnavailable(err);
    }
  }

  async function revokeUser(sub: string): Promise<void> {
    const cfg = config as SessionConfig;
    // Sessions created up to now fail; the stamp outlives every one of them and then expires.
    try {
      await deps.store.batch([
        { op: 'set', key: revocationKey(sub), value: String(deps.now()), ttlMs: cfg.maxLifetime + cfg.clockSkew },
      ] as const);
    } catch (err) {
      throw storeUnavailable(err);
    }
  }

  async function adminRevoke(request: Request): Promise<Response> {
    const auth = /^Bearer +(\S+)$/i.exec(request.headers.get('authorization') ?? '');
    if (auth === null || !sameDigest(await digest(auth[1]), adminDigest as Uint8Array)) {
      return errorResponse(invalidCredential('admin-token'));
    }
    if (Number(request.headers.get('content-length') ?? '0') > 4096) return errorResponse(new GatewayError('payloadTooLarge'));
    let input: { sid?: unknown; sub?: unknown };
    try {
      const text = await request.text();
      if (text.length > 4096) return errorResponse(new GatewayError('payloadTooLarge'));
      input = JSON.parse(text) as typeof input;
    } catch {
      return errorResponse(new GatewayError('malformedBody'));
    }
    const isId = (v: unknown): v is string => typeof v === 'string' && v !== '' && v.length <= MAX_SUB_LENGTH;
    const json = (body: unknown) =>
      new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });
    try {
      if (input !== null && typeof input === 'object' && isId(input.sid) && input.sub === undefined) {
        const found = await revokeSession(input.sid);
        return json({ code: 0, message: 'success', revoked: 'session', found });
      }
      if (input !== null && typeof input === 'object' && isId(input.sub) && input.sid === undefined) {
        await revokeUser(input.sub);
        return json({ code: 0, message: 'success', revoked: 'user' });
      }
    } catch (err) {
      if (err instanceof GatewayError) return errorResponse(err);
      throw err;
    }
    return errorResponse(new GatewayError('malformedBody', { expected: 'a JSON body with "sid" or "sub"' }));
  }

  function mount<E extends Env, S extends Schema, B extends string>(app: Hono<E, S, B>): void {
    if (config?.jwks.enabled && jwksBody !== undefined) {
      const cacheControl = `public, max-age=${Math.floor(config.jwks.maxAge / 1000)}`;
      app.get(
        config.jwks.path,
        () => new Response(jwksBody, { headers: { 'content-type': 'application/jwk-set+json', 'cache-control': cacheControl } }),
      );
    }
    if (adminDigest !== undefined) app.post(ADMIN_REVOKE_PATH, (c) => adminRevoke(c.req.raw));
  }

  return Object.freeze({ identityHeaderNames, authenticate, completeLogin, logout, issue, revokeSession, revokeUser, mount });
}
