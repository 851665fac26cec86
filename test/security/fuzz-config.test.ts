// Fuzzing configs with fast-check: random documents and near-valid ones with random fields →
// createGateway + ready either works (and then serves each route without a 5xx of its own) or throws
// a ConfigError naming each problem; never another exception, never a crash at start-up or later.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStoreFromConfig } from '../../adapters/node/redis-store.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { createGateway } from '../../src/gateway.ts';
import { keygen } from '../../src/session/keys.ts';
import { createStore } from '../../src/store/create.ts';
import { recordFigures } from './figures.ts';

const RUNS = Number(process.env.EDGEGATE_FUZZ_RUNS ?? 1000);
const SEED = Number(process.env.EDGEGATE_FUZZ_SEED ?? 20261203);

const figures = { documents: 0, valid: 0, configErrors: 0, requests: 0 };
let pem = '';
let publicPem = '';

beforeAll(async () => {
  const key = await keygen('ES256', 'k');
  pem = key.privateKeyPem;
  publicPem = key.publicKeyPem;
});

afterAll(() => recordFigures('fuzz-config', { ...figures, runs: RUNS, seed: SEED }));

/** An upstream that answers after a few ms: slow enough for a broken timer (1 ms) to show as a 504. */
async function upstreamStub(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  await new Promise((r) => setTimeout(r, 3));
  if (init?.signal?.aborted) throw init.signal.reason;
  const url = String(input instanceof Request ? input.url : input);
  return new Response(JSON.stringify({ data: { user_id: 'u1', token: 'x' }, url }), { headers: { 'content-type': 'application/json' } });
}

// ---- arbitraries: a valid config, then a few fields replaced by plausible mistakes or anything ---

const junk = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(null, '', -1, 0, 1e300, '__proto__', {}, [], true));
/** Plausible mistakes, from every corner of the schema. */
const ODD = [
  0,
  -1,
  1.5,
  2 ** 31,
  2 ** 53,
  1e12,
  '0ms',
  '1d',
  '30d',
  '365d',
  '1.5s',
  ' 5 s',
  '5S',
  '-1s',
  '1e3',
  '0.5kb',
  '1gb',
  '10GB',
  ' 2 mb',
  '/a/:id/:id',
  '/*',
  '/',
  '/a/*/b',
  '/:id',
  '/:',
  '/a/:',
  '/a*',
  '/a/:id*',
  '/(x)',
  '/a/:a:b',
  '/a/%20',
  '/a/%zz',
  '//a',
  '/a//b',
  '/a/./b',
  '/a/../b',
  '/a;b',
  '/a/:id{[0-9]+}',
  '/a/:id?',
  '/a/**',
  '/ä',
  '/_edgegate/sessions/revoke',
  '/.well-known/jwks.json',
  'a',
  '/x/:nope',
  '/x/%2e%2e/*',
  '*',
  '/x:id',
  'get',
  'TRACE',
  [],
  ['GET', 'GET'],
  '/^(a+)+$/',
  '/(/',
  '/x/zz',
  '/x/gimsuy',
  'nope',
  '/[/',
  'sku',
  'date',
  '10.0.0.0/33',
  '1.2.3',
  'localhost',
  '::ffff:1.2.3.4',
  '1.2.3.4/0',
  '1.2.3.4/24',
  'leaky',
  { param: 'missing' },
  { header: '' },
  { query: 'x' },
  'a b',
  'missing',
  'basic',
  'jwt',
  'token',
  'session',
  { userId: 'data' },
  { userId: '/a', token: '/__proto__/x' },
  'ftp://x',
  'http://',
  'http://a b',
  'http://u:p@h:1',
  'least-conn',
  'RS256',
  'HS256',
  'none',
  '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----',
  { kty: 'EC' },
  { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' },
  'bad header',
  'a;b',
  { sub: 'authorization' },
  ['sub'],
  'short',
  'always-200',
  { type: 'redis' },
  { type: 'nope' },
  { type: 'memory', maxEntries: 0 },
  '__proto__',
  'constructor',
  'redis://:@',
  'redis://[',
  'redis://h:99999',
  99999,
  '99999',
  { type: 'upstash' },
  'rediss://127.0.0.1:9',
];
const odd = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ODD) }, { weight: 1, arbitrary: junk });

const duration = fc.constantFrom('250ms', '5s', '2m', '1h', 1000, '30d');
const size = fc.constantFrom(1024, '1kb', '512kb', '1mb');
const fieldRule = fc.constantFrom(
  { mandatory: true, regex: 'email', max_length: 100 },
  { regex: 'password', can_empty: false },
  { type: 'integer', min: 0, max: 120 },
  { type: 'number', numeric: true },
  { type: 'boolean' },
  { type: 'string', minLength: 1, max_length: 5, regex: '/^[a-z]+$/i' },
  { format: 'uuid' },
  { type: 'enum', enum: ['a', 'b'] },
  { regex: 'sku' },
);
const fields = fc.dictionary(fc.constantFrom('email', 'age', 'id', 'q', '__proto__', 'constructor', 'a.b'), fieldRule, { maxKeys: 2 });
const cidrs = fc.array(fc.constantFrom('10.0.0.0/8', '192.0.2.7', '::1', '2001:db8::/32', '0.0.0.0/0', '::/0'), { maxLength: 2 });
const limit = fc
  .record({
    algorithm: fc.constantFrom('fixed-window', 'sliding-window', 'token-bucket', 'gcra'),
    limit: fc.constantFrom(1, 10, 1000),
    window: duration,
    key: fc.constantFrom('ip', 'user', 'global', { header: 'x-api-key' }, ['user', 'ip']),
    burst: fc.constantFrom(1, 5),
    failure: fc.constantFrom('open', 'closed'),
  })
  .map((l) => (l.algorithm === 'token-bucket' || l.algorithm === 'gcra' ? l : { ...l, burst: undefined }));
/** A route whose rewrite and params agree with its path. */
const route = (withSession: boolean) =>
  fc
    .record({
      shape: fc.constantFrom('/a', '/a/:id', '/a/:id/b/:other', '/static/*', '/b/:id/*', '/c'),
      method: fc.constantFrom('GET', 'POST', ['GET', 'POST'], 'PUT', ['OPTIONS', 'DELETE', 'PATCH']),
      upstream: fc.constantFrom('u', 'v', undefined),
      rewrite: fc.boolean(),
      params: fc.option(fc.record({ body: fields, query: fields, unknown: fc.constantFrom('reject', 'allow') }, { requiredKeys: [] }), {
        nil: undefined,
      }),
      forward: fc.option(fc.record({ method: fc.constantFrom('GET', 'POST'), bodyAsQuery: fc.boolean() }, { requiredKeys: [] }), {
        nil: undefined,
      }),
      ipRules: fc.option(fc.record({ allow: cidrs, deny: cidrs }, { requiredKeys: [] }), { nil: undefined }),
      bodyLimit: fc.option(size, { nil: undefined }),
      timeout: fc.option(duration, { nil: undefined }),
      auth: fc.constantFrom('public', withSession ? 'session' : 'public'),
      limits: fc.option(fc.array(limit, { maxLength: 2 }), { nil: undefined }),
      salt: fc.nat(999),
    })
    .map(({ shape, rewrite, salt, ...r }) => ({
      ...r,
      path: `${shape.replace(/^\/(\w)/, `/$1${salt}`)}`,
      rewrite: rewrite ? `/up${shape.replace(/^\/\w+/, '')}` : undefined,
      limits: r.limits?.map((l, i) => ({ ...l, name: `l${i}` })),
    }));
const target = fc.record({
  url: fc.constantFrom('http://127.0.0.1:9', 'https://[::1]:8443/base/', 'http://10.0.0.1'),
  weight: fc.constantFrom(1, 10),
});
const upstream = fc.record(
  {
    targets: fc.array(target, { minLength: 1, maxLength: 3 }),
    balancer: fc.constantFrom('weighted-random', 'round-robin'),
    timeout: duration,
    retries: fc.constantFrom(0, 1, 5),
    retryBudget: fc.constantFrom(0, 0.2, 1),
    health: fc.record({ failures: fc.constantFrom(1, 3), cooldown: duration }, { requiredKeys: [] }),
  },
  { requiredKeys: ['targets'] },
);
const session = fc.record(
  {
    keys: fc.constant([{ kid: 'k', alg: 'ES256', privateKey: '$PEM' }]),
    issuer: fc.constant('https://iss'),
    audience: fc.constant('api'),
    ttl: fc.constantFrom('5m', '1h'),
    maxLifetime: fc.constantFrom('1d'),
    clockSkew: duration,
    token: fc.record({ header: fc.constant('token'), cookie: fc.constant('sid'), bearer: fc.boolean() }, { requiredKeys: ['header'] }),
    identityHeaders: fc.constantFrom({ sub: 'x-user-id' }, { role: 'x-role', sub: 'x-user-id' }, {}),
    claims: fc.constantFrom([], ['role'], ['/data/role']),
    jwks: fc.record({ path: fc.constantFrom('/.well-known/jwks.json', '/keys'), enabled: fc.boolean() }, { requiredKeys: [] }),
    admin: fc.record({ token: fc.constant('admin-token-0123456789') }, { requiredKeys: [] }),
  },
  { requiredKeys: ['keys', 'issuer', 'audience'] },
);
const validDocument = fc.boolean().chain((withSession) =>
  fc.record(
    {
      server: fc.record(
        { bodyLimit: size, accessLog: fc.boolean(), trustProxy: cidrs, errorStatus: fc.constantFrom('semantic', 'always-200') },
        { requiredKeys: [] },
      ),
      store: fc.constantFrom(
        { type: 'memory' },
        { type: 'memory', maxEntries: 10 },
        { type: 'redis', url: 'redis://127.0.0.1:9', timeout: '200ms' },
        { type: 'redis', host: '127.0.0.1', port: 9, db: 1 },
        { type: 'upstash', url: 'http://127.0.0.1:9', token: 't' },
      ),
      ipRules: fc.option(fc.record({ deny: cidrs }, { requiredKeys: [] }), { nil: undefined }),
      patterns: fc.constant({ sku: '/^[A-Z]{3}-\\d{4}$/' }),
      upstreams: fc.record({ u: upstream, v: upstream }),
      routes: fc.array(route(withSession), { minLength: 1, maxLength: 4 }),
      limits: fc.option(
        fc.record(
          {
            default: fc.array(limit, { maxLength: 2 }),
            headers: fc.boolean(),
            denyCache: fc.boolean(),
            failure: fc.record({ policy: fc.constantFrom('open', 'closed'), budget: duration }),
          },
          { requiredKeys: [] },
        ),
        { nil: undefined },
      ),
      session: withSession ? session : fc.constant(undefined),
    },
    { requiredKeys: ['routes', 'upstreams', 'session', 'patterns'] },
  ),
);

/** Every path to a value in `doc`, for mutation. */
function paths(doc: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (at.length > 0) out.push(at);
  if (doc !== null && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) paths(v, [...at, Array.isArray(doc) ? Number(k) : k], out);
  }
  return out;
}

/** Mistakes that fit a field, by its name: most mutations use these, so each field's edge cases come up. */
const ODD_BY_KEY: Record<string, unknown[]> = {
  timeout: [0, '0ms', '24d', '25d', '30d', 2 ** 31, 1e12, '1.5s', '-1s'],
  budget: [0, '30d', 2 ** 31, '1ms'],
  window: [0, '1ms', '1d', '1000d', 2 ** 53],
  cooldown: [0, '30d', 2 ** 31],
  ttl: [0, '1ms', '100000d'],
  maxLifetime: [0, '1ms', '100000d'],
  clockSkew: [0, '365d'],
  bodyLimit: [0, '0.5kb', '10GB', 2 ** 53, 1.5, '1gb'],
  path: ODD.filter((v) => typeof v === 'string' && (v as string).startsWith('/')),
  rewrite: ['/x/:nope', '/x/../y', '/x/%2e%2e/*', '*', '/x:id', '//', '/x/..;/y', '/x/%2f..'],
  'store.url': ['redis://:@', 'redis://[', 'redis://h:99999', 'rediss://127.0.0.1:9', 'redis://127.0.0.1:9/99', 'https://x', 'http://[::1'],
  url: ['ftp://x', 'http://', 'http://a b', 'http://u:p@h:1', 'http://[::1', 'https://x/base?q=1#f'],
  port: [0, 99999, '99999', '0', -1, 65536],
  db: [-1, 99, '16'],
  maxEntries: [0, 1, 2 ** 53],
  limit: [0, 1, 2 ** 40, 2 ** 53],
  burst: [0, 2 ** 40],
  weight: [0, -1, 2.5, 2 ** 53],
  retries: [-1, 1000],
  failures: [0, 2 ** 53],
  method: ['get', 'TRACE', [], ['GET', 'GET'], 'HEAD', 'CONNECT'],
  trustProxy: [['10.0.0.0/33'], ['localhost'], ['::ffff:1.2.3.4'], ['1.2.3.4/24'], ['0.0.0.0/0', '::/0']],
};

function fittingOdd(path: (string | number)[]): unknown[] | undefined {
  const last = path[path.length - 1];
  if (typeof last !== 'string') return undefined;
  return ODD_BY_KEY[`${path[path.length - 2]}.${last}`] ?? ODD_BY_KEY[last];
}

/** Replaces (or deletes) the values at a few of the document's paths. */
const document = fc
  .tuple(
    validDocument,
    fc.array(
      fc.tuple(fc.nat(), fc.nat(3), fc.nat(), fc.oneof({ weight: 6, arbitrary: odd }, { weight: 1, arbitrary: fc.constant('$DELETE') })),
      {
        maxLength: 3,
      },
    ),
  )
  .map(([doc, mutations]) => {
    const copy = JSON.parse(JSON.stringify(doc));
    for (const [pick, mode, choice, value] of mutations) {
      const all = paths(copy);
      if (all.length === 0) break;
      // Half the time, a field that has mistakes of its own.
      const keyed = all.filter((q) => fittingOdd(q) !== undefined);
      const pool = keyed.length > 0 && mode < 2 ? keyed : all;
      const p = pool[pick % pool.length];
      let parent = copy;
      for (const k of p.slice(0, -1)) parent = parent[k];
      const last = p[p.length - 1];
      const fitting = fittingOdd(p);
      if (value === '$DELETE') {
        if (Array.isArray(parent)) parent.splice(last as number, 1);
        else delete parent[last];
      } else if (fitting !== undefined && mode < 3) parent[last] = fitting[choice % fitting.length];
      else parent[last] = value;
    }
    return copy;
  });

/** Replaces the key placeholders and drops undefined fields, as a JSON file would. */
function materialize(doc: unknown): unknown {
  return JSON.parse(JSON.stringify(doc, (_k, v) => (v === '$PEM' ? pem : v === '$PUB' ? publicPem : v)) ?? 'null');
}

/** A request path that matches a route path, params filled in. */
function concrete(routePath: string): string {
  return routePath.replace(/:[A-Za-z0-9_]+/g, '7').replace(/\*+/g, 'rest');
}

function configError(err: unknown): void {
  expect(err, `not a ConfigError: ${(err as Error)?.stack}`).toBeInstanceOf(ConfigError);
  const problems = (err as ConfigError).problems;
  expect(problems.length).toBeGreaterThan(0);
  for (const p of problems) expect(p, 'a problem names its path').toMatch(/^\S.*: /);
  figures.configErrors++;
}

async function check(doc: unknown): Promise<void> {
  figures.documents++;
  let gateway: ReturnType<typeof createGateway>;
  try {
    gateway = createGateway(doc as never, { fetch: upstreamStub as typeof fetch, logError: () => {}, clientIp: () => '192.0.2.1' });
    await gateway.ready;
  } catch (err) {
    return configError(err);
  }
  // The store the Node adapter would build (Redis over TCP, Upstash), then closed again.
  try {
    const store = createStore(gateway.config.store, {}, { redis: redisStoreFromConfig });
    await store.close();
  } catch (err) {
    await gateway.close();
    return configError(err);
  }
  figures.valid++;
  try {
    for (const r of gateway.config.routes) {
      const methods = Array.isArray(r.method) ? r.method : [r.method];
      for (const m of methods) {
        const hasBody = m !== 'GET' && m !== 'HEAD';
        const request = new Request(`http://gw.test${concrete(r.path)}?q=1`, {
          method: m,
          headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
          body: hasBody ? '{"email":"a@example.com","age":30}' : undefined,
        });
        const res = await gateway.fetch(request, {});
        await res.arrayBuffer();
        figures.requests++;
        const allowed503 = res.status === 503 && r.upstream === undefined;
        if (res.status >= 500 && !allowed503)
          throw new Error(`${m} ${request.url} → ${res.status} with ${JSON.stringify(doc).slice(0, 2000)}`);
      }
    }
  } finally {
    await gateway.close();
  }
}

describe('random configs', () => {
  it('any JSON document: a config or a ConfigError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (doc) => {
        try {
          parseConfig(doc);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
        }
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });

  it(`${RUNS} near-valid configs (seed ${SEED}): start and serve, or a ConfigError with every problem`, async () => {
    await fc.assert(
      fc.asyncProperty(document, (doc) => check(materialize(doc))),
      { seed: SEED, numRuns: RUNS },
    );
  }, 120_000);
});
