// Shared fixtures for the session tests: a fake clock, config builders, a request context, and a runner
// that plays the gateway's part (one store batch for the step, then apply or fail).
import { expect } from 'vitest';
import { type RouteConfig, routeSchema } from '../../src/config/schema.ts';
import type { RequestContext } from '../../src/context.ts';
import { GatewayError, StoreError } from '../../src/errors.ts';
import { createSessions, type SessionDeps, type Sessions } from '../../src/session/index.ts';
import { type GeneratedKey, keygen } from '../../src/session/keys.ts';
import { type SessionConfigInput, sessionSchema } from '../../src/session/schema.ts';
import { memoryStore } from '../../src/store/memory.ts';
import type { Command, Store } from '../../src/store/store.ts';

export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

export function fakeClock(start = T0) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
    set: (ms: number) => {
      t = ms;
    },
  };
}

/** A store that counts round trips and commands, around the memory store. */
export function countingStore(inner: Store): Store & { batches: Command[][] } {
  const batches: Command[][] = [];
  return {
    kind: inner.kind,
    batches,
    batch: (commands) => {
      batches.push([...commands]);
      return inner.batch(commands);
    },
    close: () => inner.close(),
  };
}

/** Keys are slow to generate (RSA); each test file generates its pairs once. */
const keyCache = new Map<string, Promise<GeneratedKey>>();
export function testKey(alg: GeneratedKey['alg'], kid = `${alg.toLowerCase()}-1`): Promise<GeneratedKey> {
  const k = `${alg}/${kid}`;
  const p = keyCache.get(k) ?? keygen(alg, kid);
  keyCache.set(k, p);
  return p;
}

export const ROUTES = [
  { path: '/public', upstream: 'api' },
  { path: '/private', upstream: 'api', auth: 'session' },
  { path: '/login', method: 'POST', upstream: 'api', login: { userId: '/data/user_id', token: '/data/token' } },
  { path: '/logout', method: 'POST', upstream: 'api', auth: 'session', logout: true },
  { path: '/login-cookie', method: 'POST', upstream: 'api', login: { userId: '/user/id', cookie: true } },
] as const;
export const R = { public: 0, private: 1, login: 2, logout: 3, loginCookie: 4 } as const;

export function routes(list: readonly unknown[] = ROUTES): RouteConfig[] {
  return list.map((r) => routeSchema.parse(r));
}

export interface Fixture {
  sessions: Sessions;
  store: Store & { batches: Command[][] };
  clock: ReturnType<typeof fakeClock>;
  key: GeneratedKey;
  logs: unknown[][];
}

export async function fixture(
  overrides: Partial<SessionConfigInput> = {},
  deps: Partial<SessionDeps> = {},
  routeList?: readonly unknown[],
): Promise<Fixture> {
  const clock = fakeClock();
  const key = await testKey('ES256');
  const store = countingStore(memoryStore({ now: clock.now }));
  const logs: unknown[][] = [];
  const config = sessionSchema.parse({
    keys: [{ kid: key.kid, alg: key.alg, privateKey: key.privateKeyPem }],
    issuer: 'https://gw.example',
    audience: 'api',
    token: { header: 'token', cookie: 'edgegate_session' },
    identityHeaders: { sub: 'x-user-id', role: 'x-user-role' },
    claims: ['role'],
    ...overrides,
  });
  const sessions = await createSessions(config, routes(routeList), {
    store,
    now: clock.now,
    fetch: () => Promise.reject(new Error('no network in unit tests')),
    log: (...args) => void logs.push(args),
    ...deps,
  });
  return { sessions, store, clock, key, logs };
}

export function context(routeIndex: number, headers: HeadersInit = {}, now: number = T0, path = '/private'): RequestContext {
  const request = new Request(`http://gw.test${path}`, { headers });
  return {
    request,
    url: new URL(request.url),
    routeIndex,
    params: {},
    ip: '127.0.0.1',
    requestId: 'req-1',
    now,
    upstreamHeaders: new Headers(),
    responseHeaders: new Headers(),
  };
}

/** Plays the gateway: authenticate, then the step's commands in one batch, then apply (or fail). */
export async function run(f: Pick<Fixture, 'sessions' | 'store'>, ctx: RequestContext): Promise<RequestContext> {
  const step = await f.sessions.authenticate(ctx, ctx.routeIndex);
  if (step === undefined) return ctx;
  let results: readonly unknown[];
  try {
    results = await f.store.batch(step.commands);
  } catch (err) {
    if (err instanceof StoreError) {
      step.fail(err);
      return ctx;
    }
    throw err;
  }
  await step.apply(results);
  return ctx;
}

/** Authenticates a private request carrying `token` at the fixture's current time. */
export function privateCall(f: Fixture, headers: HeadersInit, routeIndex: number = R.private): Promise<RequestContext> {
  return run(f, context(routeIndex, headers, f.clock.now()));
}

/**
 * Asserts the documented credential failure: 401, code 99999, the original's message, and
 * nothing of the token anywhere in the error or in what was logged.
 */
export async function expectInvalid(p: Promise<unknown>, token: string | undefined, logs: unknown[][] = []): Promise<GatewayError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(GatewayError);
  const err = caught as GatewayError;
  expect(err.code).toBe(99999);
  expect(err.status).toBe(401);
  expect(err.message).toBe('Invalid credential to the service');
  expect(err.toJSON()).toEqual({ code: 99999, message: 'Invalid credential to the service' });
  expect(typeof err.cause).toBe('string');
  if (token !== undefined && token.length > 0) {
    const everything = [JSON.stringify(err.toJSON()), String(err.cause), err.stack ?? '', String(err), JSON.stringify(logs)].join('\n');
    for (const part of token.split('.').filter((s) => s.length >= 8)) expect(everything).not.toContain(part);
  }
  return err;
}

export const b64url = (s: string | Uint8Array) => {
  const bytes = typeof s === 'string' ? new TextEncoder().encode(s) : s;
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
