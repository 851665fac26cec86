// Fuzzing requests with fast-check: random methods, hostile paths, repeated query keys, header floods,
// huge and invalid-UTF-8 bodies, "__proto__" keys — through gateway.fetch with the Node upstream client
// and a real upstream that records the path it received. Fixed seed, bounded runs (EDGEGATE_FUZZ_RUNS
// for a long run). Properties: no 5xx made by the gateway, no upstream path outside its route's
// prefix (even once an upstream decodes %2e, %2f and %5c), no prototype pollution, no client-sent
// identity header upstream.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGateway } from '../../adapters/node/gateway.ts';
import type { Gateway } from '../../src/gateway.ts';
import { keygen } from '../../src/session/keys.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { recordFigures } from './figures.ts';
import { climbsOut, prototypeSnapshot } from './paths.ts';

const RUNS = Number(process.env.EDGEGATE_FUZZ_RUNS ?? 1500);
const SEED = Number(process.env.EDGEGATE_FUZZ_SEED ?? 20261203);
const BODY_LIMIT = 8 * 1024;

/** Each route's upstream prefix: whatever reaches the upstream through it must stay under it. */
const PREFIXES: Record<string, string> = {
  users: '/account/users/',
  static: '/files/',
  login: '/auth/login',
  form: '/forms/',
  query: '/search',
  me: '/profile/me',
  asQuery: '/lookup',
};

let upstream: TestUpstream;
let gateway: Gateway;
let token: string;
const figures = { cases: 0, byStatus: {} as Record<string, number>, upstreamRequests: 0 };

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url?.startsWith('/auth/login')) res.end(JSON.stringify({ data: { user_id: 'u-1' } }));
    else res.end(JSON.stringify({ ok: true, user: req.headers['x-user-id'] ?? null }));
  });
  const key = await keygen('ES256', 'fuzz');
  gateway = await nodeGateway(
    {
      server: { bodyLimit: BODY_LIMIT, accessLog: false },
      upstreams: { rec: { targets: [{ url: upstream.url }], timeout: '2s', retries: 0 } },
      session: {
        keys: [{ kid: 'fuzz', alg: 'ES256', privateKey: key.privateKeyPem }],
        issuer: 'https://fuzz.test',
        audience: 'api',
        identityHeaders: { sub: 'x-user-id', role: 'x-user-role' },
      },
      routes: [
        {
          name: 'users',
          method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'],
          path: '/api/users/:id',
          upstream: 'rec',
          rewrite: '/account/users/:id',
        },
        { name: 'static', method: ['GET', 'POST', 'PUT', 'OPTIONS'], path: '/static/*', upstream: 'rec', rewrite: '/files/*' },
        {
          name: 'login',
          method: 'POST',
          path: '/login',
          upstream: 'rec',
          rewrite: '/auth/login',
          login: { userId: '/data/user_id', token: '/data/token' },
          params: { body: { email: { mandatory: true, regex: 'email', max_length: 100 }, password: { mandatory: true, max_length: 64 } } },
        },
        {
          name: 'form',
          method: ['POST', 'PUT'],
          path: '/forms/:kind',
          upstream: 'rec',
          rewrite: '/forms/:kind',
          params: { body: { name: { type: 'string', max_length: 50 }, age: { type: 'integer', min: 0 } }, unknown: 'allow' },
        },
        {
          name: 'query',
          path: '/search',
          upstream: 'rec',
          rewrite: '/search',
          params: { query: { q: { max_length: 20 }, page: { type: 'integer' } } },
          limits: [{ algorithm: 'fixed-window', limit: 1_000_000, window: '1h', key: 'ip' }],
        },
        { name: 'me', method: ['GET', 'POST'], path: '/me', upstream: 'rec', rewrite: '/profile/me', auth: 'session' },
        {
          name: 'asQuery',
          method: 'POST',
          path: '/as-query',
          upstream: 'rec',
          rewrite: '/lookup',
          forward: { method: 'GET', bodyAsQuery: true },
        },
      ],
    },
    { accessLog: false, deps: { clientIp: () => '192.0.2.10', logError: () => {} } },
  );
  const sessions = await gateway.sessions();
  token = (await sessions!.issue('fuzz-user', { role: 'tester' })).token;
}, 30_000);

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  await recordFigures('fuzz-requests', { ...figures, runs: RUNS, seed: SEED });
});

// ---- arbitraries -------------------------------------------------------------------------------

const SEGMENTS = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2e',
  '.%2e',
  '%2e',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '..%2f',
  '..%2F..%2F',
  '%2e%2e%2f',
  '..%5c',
  '%00',
  '%0a',
  '%0d%0a',
  '%252e%252e',
  '%252f',
  '%c0%ae',
  '%C0%AF',
  '%',
  '%zz',
  '%ff',
  'é',
  '%C3%A9',
  ';',
  ';x=1',
  '..;',
  'a',
  '42',
  '0',
  '-1',
  '__proto__',
  'constructor',
  'prototype',
  '',
  ' ',
  '%20',
  '*',
  ':id',
  '?',
  '#',
  '~',
  'a'.repeat(300),
];
const PREFIX_PATHS = [
  '/api/users/',
  '/static/',
  '/static',
  '/login',
  '/forms/',
  '/search',
  '/me',
  '/as-query',
  '/',
  '/api/',
  '//',
  '/./',
  '/STATIC/',
  '/api/users',
];

const segment = fc.oneof(fc.constantFrom(...SEGMENTS), fc.string({ maxLength: 6 })).map((seg) => seg.replace(/[#?]/g, encodeURIComponent));

/** Anything at all, mostly unrouted. */
const wildPath = fc
  .tuple(fc.constantFrom(...PREFIX_PATHS), fc.array(segment, { maxLength: 5 }), fc.constantFrom('/', '', '//'))
  .map(([p, segs, sep]) => p + segs.join(sep));

/** A route's own shape with hostile segments where its params and wildcard go, and one of its methods. */
const TARGETS: [string, (segs: string[]) => string, string[]][] = [
  ['users', (s) => `/api/users/${s.join('')}`, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']],
  ['static', (s) => `/static/${s.join('/')}`, ['GET', 'POST', 'PUT', 'OPTIONS']],
  ['login', () => '/login', ['POST']],
  ['form', (s) => `/forms/${s.join('')}`, ['POST', 'PUT']],
  ['query', () => '/search', ['GET', 'HEAD']],
  ['me', () => '/me', ['GET', 'POST']],
  ['asQuery', () => '/as-query', ['POST']],
];
const targeted = fc
  .tuple(fc.nat(TARGETS.length - 1), fc.array(segment, { minLength: 1, maxLength: 4 }), fc.nat(4))
  .map(([t, segs, m]) => ({ path: TARGETS[t][1](segs), method: TARGETS[t][2][m % TARGETS[t][2].length] }));

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'get', 'Post'];
const pathAndMethod = fc.oneof(
  { weight: 3, arbitrary: targeted },
  { weight: 1, arbitrary: fc.record({ path: wildPath, method: fc.constantFrom(...METHODS) }) },
);

const QUERY_KEYS = [
  'q',
  'page',
  '__proto__',
  'constructor',
  '__proto__[polluted]',
  'constructor[prototype][polluted]',
  'a',
  'q[]',
  '',
  'x',
];
const query = fc
  .array(
    fc.tuple(
      fc.constantFrom(...QUERY_KEYS),
      fc.oneof(fc.constantFrom('1', 'yes', '', '%00', '-5', 'x'.repeat(40), '%zz'), fc.string({ maxLength: 8 })),
    ),
    { maxLength: 8 },
  )
  .map((pairs) =>
    pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${v.replace(/[#&]/g, encodeURIComponent)}`).join('&')}`,
  );

const HEADER_NAMES = [
  'x-user-id',
  'x-user-role',
  'X-User-Id',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'forwarded',
  'x-real-ip',
  'x-request-id',
  'authorization',
  'token',
  'cookie',
  'content-type',
  'accept',
  'connection',
  'te',
  'upgrade',
  'keep-alive',
  'expect',
  'x-custom',
  'proxy-authorization',
  'transfer-encoding',
  'x-original-url',
  'x-http-method-override',
  'true-client-ip',
  'trailer',
  'idempotency-key',
  'accept-encoding',
  'if-none-match',
  '__proto__',
  'constructor',
];
const headerValue = fc.oneof(
  fc.constantFrom(
    '1',
    'u-admin',
    '127.0.0.1',
    '10.0.0.1, 127.0.0.1',
    'application/json',
    'application/x-www-form-urlencoded',
    'text/plain',
    'close',
    'x-user-id',
    '100-continue',
    'chunked',
    'trailers',
  ),
  fc.constantFrom('Bearer ', 'Bearer x.y.z', 'Bearer a b', 'application/problem+json'),
  fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
);
const headers = fc.record({
  named: fc.array(fc.tuple(fc.constantFrom(...HEADER_NAMES), headerValue), { maxLength: 10 }),
  flood: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 })),
  withToken: fc.boolean(),
});

/** Bodies: JSON with prototype keys, forms, invalid UTF-8, oversized, random bytes. */
const body = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('{"email":"ada@example.com","password":"Secret1!"}', '{"name":"ada","age":36}', 'name=ada&age=36', '{"id":7}'),
  fc.constantFrom(
    '{"__proto__":{"polluted":"yes"}}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    '{"email":"a@example.com","password":"Secret1!","__proto__":{"admin":true}}',
    '{"name":"x","age":3,"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}',
    '__proto__[polluted]=1&constructor[prototype][polluted]=1&name=x',
    '{"email":',
    '[1,2,3]',
    'null',
    '"str"',
    '{"a":'.repeat(2000),
    '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
  ),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Uint8Array.from([0xff, 0xfe, 0xc0, ...b])),
  fc.integer({ min: BODY_LIMIT - 2, max: BODY_LIMIT * 3 }).map((n) => 'x'.repeat(n)),
);

const requestInput = fc.record({ target: pathAndMethod, query, headers, body });

type RequestInput = typeof requestInput extends fc.Arbitrary<infer T> ? T : never;

function toRequest(input: RequestInput): Request | undefined {
  const h = new Headers();
  try {
    for (const [name, value] of input.headers.named) h.append(name, value);
    for (let i = 0; i < input.headers.flood; i++) h.append(`x-flood-${i % 50}`, `v${i}`);
    if (input.headers.withToken) h.set('authorization', `Bearer ${token}`);
  } catch {
    return undefined; // a header the Headers class refuses never reaches a gateway either
  }
  const { method, path } = input.target;
  const canHaveBody = !['GET', 'HEAD', 'get'].includes(method);
  try {
    return new Request(`http://gw.test${path}${input.query}`, {
      method,
      headers: h,
      body: canHaveBody ? input.body : undefined,
    });
  } catch {
    return undefined;
  }
}

function routeOf(upstreamUrl: string): string | undefined {
  const p = upstreamUrl.split('?')[0];
  return Object.keys(PREFIXES).find((name) => p === PREFIXES[name] || p.startsWith(PREFIXES[name]));
}

// ---- the properties ----------------------------------------------------------------------------

describe('random requests', () => {
  it(`${RUNS} requests (seed ${SEED}): no gateway 5xx, no path outside its prefix, no pollution`, async () => {
    const before = prototypeSnapshot();
    await fc.assert(
      fc.asyncProperty(requestInput, async (input) => {
        const request = toRequest(input);
        fc.pre(request !== undefined);
        const seenBefore = upstream.seen.length;
        const response = await gateway.fetch(request!, {});
        const text = await response.text();
        figures.cases++;
        figures.byStatus[response.status] = (figures.byStatus[response.status] ?? 0) + 1;
        const reached = upstream.seen.slice(seenBefore);
        figures.upstreamRequests += reached.length;

        // The recording upstream never fails, so any 5xx is the gateway's own.
        expect(response.status, `${request!.method} ${request!.url} → ${response.status} ${text.slice(0, 200)}`).toBeLessThan(500);
        if (reached.length === 0 && response.status >= 400 && request!.method !== 'HEAD') {
          expect(() => JSON.parse(text), `gateway error is JSON: ${text.slice(0, 100)}`).not.toThrow();
        }
        for (const seen of reached) {
          const route = routeOf(seen.url);
          expect(route, `upstream got ${seen.url} for ${request!.url}`).toBeDefined();
          expect(climbsOut(seen.url.split('?')[0], PREFIXES[route!]), `upstream got ${seen.url} for ${request!.url}`).toBe(false);
          // Identity headers come from the gateway only, and only on the session route.
          if (route === 'me') expect(seen.headers['x-user-id']).toBe('fuzz-user');
          else expect(seen.headers['x-user-id'], `client-sent x-user-id reached ${seen.url}`).toBeUndefined();
          expect(seen.headers['x-user-role'] === undefined || route === 'me').toBe(true);
          // Nor anything that would make the upstream act on another path or method, or another client.
          for (const name of ['x-original-url', 'x-http-method-override', 'forwarded', 'x-real-ip', 'true-client-ip']) {
            expect(seen.headers[name], `${name} reached ${seen.url}`).toBeUndefined();
          }
          expect(seen.headers['x-forwarded-for']).toBe('192.0.2.10');
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(({} as Record<string, unknown>).admin).toBeUndefined();
      }),
      { seed: SEED, numRuns: RUNS },
    );
    expect(prototypeSnapshot()).toEqual(before);
  }, 120_000);
});
