// The seed files' own schema and their translation: every problem named with its file and path, the
// native config they become, and native problems traced back to the seed file they came from.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { privateKeyToPkcs8, publicKeyToSpki } from '../../src/compat/pem.ts';
import { type SeedFiles, translateSeed } from '../../src/compat/seed.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { createGateway } from '../../src/gateway.ts';
import { type KeyPair, REFERENCE, removeDir, rsaKeyPair, runCli } from './helpers.ts';

const system = () => JSON.parse(readFileSync(join(REFERENCE, 'system-config.json'), 'utf8'));
const rules = () => JSON.parse(readFileSync(join(REFERENCE, 'api-rules.json'), 'utf8'));

let keys: KeyPair;
beforeAll(async () => {
  keys = await rsaKeyPair();
});

function files(overrides: Partial<SeedFiles> = {}): SeedFiles {
  return { systemConfig: system(), apiRules: rules(), privateKey: keys.privatePem, publicKey: keys.publicPem, ...overrides };
}

function problemsOf(input: SeedFiles): string[] {
  try {
    translateSeed(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('translateSeed', () => {
  it('turns the reference files into a native config the gateway accepts', async () => {
    const { config, warnings } = translateSeed(files());
    expect(warnings).toEqual([]);
    const parsed = parseConfig(config);
    expect(parsed.store).toMatchObject({ type: 'redis', host: 'localhost', port: 6379, db: 0, tls: false });
    expect(parsed.store).not.toHaveProperty('auth');
    expect(parsed.upstreams.user.targets.map((t) => [t.url, t.weight])).toEqual([
      ['http://localhost:3001', 10],
      ['http://localhost:3002', 2],
      ['http://localhost:3003', 2],
      ['http://localhost:3004', 4],
    ]);
    expect(parsed.upstreams.user).toMatchObject({ balancer: 'weighted-random', timeout: 5000, retries: 0 });
    // "60000" and "120" are strings in the original's file.
    expect(parsed.limits?.default?.[0]).toMatchObject({ algorithm: 'sliding-window', limit: 120, window: 60_000 });
    expect(parsed.tokenSessions).toMatchObject({
      ttl: 180_000,
      algorithm: 'RS256',
      keyPrefix: 'token-',
      header: 'token',
      userHeader: 'user_id',
    });
    expect(parsed.server.errorStatus).toBe('semantic');
    expect(parsed.envelope).toEqual({ path: '/', exclusive: true });
    const gateway = createGateway(parsed);
    await expect(gateway.ready).resolves.toBeUndefined();
    await gateway.close();
  });

  it('sets always-200 when asked (--seed-status=200)', () => {
    expect(translateSeed(files(), { errorStatus: 'always-200' }).config.server).toMatchObject({ errorStatus: 'always-200' });
  });

  it('passes the Redis password, db and tls on, and leaves an empty auth out', () => {
    const sys = system();
    sys.redis = { host: 'redis.internal', port: '6380', auth: 's3cret', db: '2', tls: true };
    expect(translateSeed(files({ systemConfig: sys })).config.store).toEqual({
      type: 'redis',
      host: 'redis.internal',
      port: 6380,
      auth: 's3cret',
      db: 2,
      tls: true,
    });
  });

  it('translates GET rules to a POST route forwarded as GET with the body as query, and other methods as they are', () => {
    const r = rules();
    r.user.remove = { url: '/account', credential: true, method: 'delete', content_type: 'application/json', parameters: {} };
    const routes = translateSeed(files({ apiRules: r })).config.routes as Record<string, unknown>[];
    expect(routes.map((x) => [x.path, x.forward ?? null, x.auth])).toEqual([
      ['/user/login', null, 'public'],
      ['/user/profile', { method: 'GET', bodyAsQuery: true }, 'token'],
      ['/user/remove', { method: 'DELETE' }, 'token'],
    ]);
  });

  it('does not need keys or a session block when no rule has credential: true', () => {
    const sys = system();
    delete sys.session;
    const r = rules();
    delete r.user.profile;
    const { config } = translateSeed({ systemConfig: sys, apiRules: r });
    expect(config.tokenSessions).toBeUndefined();
    expect(config.routes).toHaveLength(1);
  });

  it('names every problem with its file and path, all at once', () => {
    const sys = system();
    sys.service_endpoints.user[1].port = 'abc';
    sys.service_endpoints.user[2].weight = 0;
    sys.rate_limit.max_requests = 'lots';
    sys.redis.port = 70000;
    sys.session.algorithm = 'HS256';
    const r = rules();
    r.user.login.method = 'FETCH';
    r.user.login.parameters.email.regex = 'phone';
    expect(problemsOf(files({ systemConfig: sys, apiRules: r }))).toEqual([
      'system-config.json: redis.port: expected a port number, received 70000',
      'system-config.json: rate_limit.max_requests: expected a number of requests such as "120", received "lots"',
      'system-config.json: service_endpoints.user[1].port: expected a port number, received "abc"',
      'system-config.json: service_endpoints.user[2].weight: expected a positive weight, received 0',
      'system-config.json: session.algorithm: expected an asymmetric algorithm (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA); HMAC secrets are not supported, received "HS256"',
      'api-rules.json: user.login.method: expected "GET" or "POST" (or PUT, PATCH, DELETE), received "FETCH"',
    ]);
  });

  it('checks the rules once the files parse: pattern names, the keys credential rules need', () => {
    const sys = system();
    delete sys.session;
    const r = rules();
    r.user.login.parameters.email.regex = 'phone';
    expect(problemsOf({ systemConfig: sys, apiRules: r })).toEqual([
      expect.stringMatching(/^api-rules\.json: user\.login\.parameters\.email\.regex: unknown pattern "phone" \(known: email, password, /),
      'system-config.json: session: expected { "algorithm", "expire" }, which rules with "credential": true need (missing)',
      'private.pem: expected the private key, which rules with "credential": true need (missing)',
      'public.pem: expected the public key, which rules with "credential": true need (missing)',
    ]);
  });

  it.each([
    [
      'a missing redis block',
      (s: Record<string, unknown>) => delete s.redis,
      'system-config.json: redis: expected the Redis settings { "host", "port", "auth", "db", "tls" } (missing)',
    ],
    [
      'a hostname with a scheme',
      (s: { redis: { host: string } }) => (s.redis.host = 'redis://x'),
      'system-config.json: redis.host: expected a host name such as "localhost" or "10.0.0.5", received "redis://x"',
    ],
    [
      'an endpoint list that is no list',
      (s: { service_endpoints: Record<string, unknown> }) => (s.service_endpoints.user = {}),
      'system-config.json: service_endpoints.user: expected a list of { "hostname", "port", "weight" }, received {}',
    ],
    [
      'a negative timeout',
      (s: { service_endpoints: Record<string, unknown> }) => (s.service_endpoints.timeout = -1),
      'system-config.json: service_endpoints.timeout: expected milliseconds such as 5000, received -1',
    ],
    [
      'an expire of "soon"',
      (s: { session: Record<string, unknown> }) => (s.session.expire = 'soon'),
      'system-config.json: session.expire: expected seconds such as 180, received "soon"',
    ],
  ])('system-config.json: %s', (_label, mutate, line) => {
    const sys = system();
    mutate(sys as never);
    expect(problemsOf(files({ systemConfig: sys }))).toEqual([line]);
  });

  it.each([
    [
      'a url without a leading slash',
      (r: { user: { login: Record<string, unknown> } }) => (r.user.login.url = 'account/login'),
      'api-rules.json: user.login.url: expected a path such as "/account/login", received "account/login"',
    ],
    [
      'a string for credential',
      (r: { user: { login: Record<string, unknown> } }) => (r.user.login.credential = 'yes'),
      'api-rules.json: user.login.credential: expected true or false, received "yes"',
    ],
    [
      'a max_length of "long"',
      (r: { user: { login: { parameters: { email: Record<string, unknown> } } } }) => (r.user.login.parameters.email.max_length = 'long'),
      'api-rules.json: user.login.parameters.email.max_length: expected a length such as 100, received "long"',
    ],
    [
      'a service name with a space',
      (r: Record<string, unknown>) => (r['user admin'] = { x: { url: '/x', method: 'POST' } }),
      'api-rules.json: user admin: expected a service name of letters, digits, "_", "." or "-"',
    ],
  ])('api-rules.json: %s', (_label, mutate, line) => {
    const r = rules();
    mutate(r as never);
    expect(problemsOf(files({ apiRules: r }))).toEqual([line]);
  });

  it('warns about fields it ignores instead of refusing a file the original ran with', () => {
    const sys = system();
    sys.redis.sentinel = 'x';
    sys.logging = { level: 'debug' };
    const r = rules();
    r.user.login.version = 2;
    const { warnings, config } = translateSeed(files({ systemConfig: sys, apiRules: r }));
    expect(warnings).toEqual([
      'system-config.json: redis.sentinel: unknown field, ignored',
      'system-config.json: logging: unknown field, ignored',
      'api-rules.json: user.login.version: unknown field, ignored',
    ]);
    expect(config.routes).toHaveLength(2);
  });

  it('warns about a service without endpoints; its events answer 10008', async () => {
    const r = rules();
    r.billing = { pay: { url: '/pay', credential: false, method: 'POST', parameters: {} } };
    const { warnings, config } = translateSeed(files({ apiRules: r }));
    expect(warnings).toEqual([
      'api-rules.json: billing: service_endpoints has no endpoint for it; its events answer 10008 "No service endpoint"',
    ]);
    const gateway = createGateway({ ...config, store: { type: 'memory' } });
    const res = await gateway.fetch(
      new Request('http://gw/', { method: 'POST', body: JSON.stringify({ service: 'billing', event: 'pay', request_id: '1', body: {} }) }),
    );
    expect(await res.json()).toEqual({ code: 10008, message: 'No service endpoint' });
    expect(res.status).toBe(503);
    await gateway.close();
  });

  it('warns when a POST rule names a content type that is not JSON (the body is sent as JSON, as the original did)', () => {
    const r = rules();
    r.user.login.content_type = 'application/x-www-form-urlencoded';
    expect(translateSeed(files({ apiRules: r })).warnings).toEqual([
      'api-rules.json: user.login.content_type: "application/x-www-form-urlencoded" is not JSON; the body is sent as JSON, as the original sent it',
    ]);
  });

  it('reads named patterns from regex.json; a copy of a built-in stays the trusted built-in; unsafe ones are named', () => {
    const r = rules();
    r.user.login.parameters.email.regex = 'corporate';
    const ok = translateSeed(
      files({
        apiRules: r,
        regex: {
          corporate: '^[a-z]+@corp\\.example$',
          // The original's email pattern fails the backtracking heuristic; as a copy of the built-in it is fine.
          email: '^\\w+((-\\w+)|(\\.\\w+))*\\@[A-Za-z0-9]+((\\.|-)[A-Za-z0-9]+)*\\.[A-Za-z]+$',
        },
      }),
    );
    expect(ok.config.patterns).toEqual({ corporate: '^[a-z]+@corp\\.example$' });
    expect(problemsOf(files({ regex: { evil: '^(a+)+$' } }))).toEqual([
      'regex.json: evil: pattern "evil" ("^(a+)+$") may backtrack catastrophically (a quantified group contains a quantifier, or more than 25 quantifiers)',
    ]);
  });

  it('traces native problems back to the seed file and field', () => {
    const { locate } = translateSeed(files());
    expect(locate('routes[1].rewrite: uses :id, which the route path does not define')).toBe(
      'api-rules.json: user.profile.url: uses :id, which the route path does not define',
    );
    expect(locate('routes[0].params.body.email.regex: bad')).toBe('api-rules.json: user.login.parameters.email.regex: bad');
    expect(locate('tokenSessions.publicKey: does not match privateKey')).toBe('public.pem: does not match privateKey');
    expect(locate('tokenSessions.privateKey: expected PKCS#8')).toBe('private.pem: expected PKCS#8');
    expect(locate('upstreams.user.targets[0].url: bad')).toBe('system-config.json: service_endpoints.user.targets[0].url: bad');
    expect(locate('something else: as is')).toBe('something else: as is');
  });

  it('names a key pair that does not match by its file, at start-up', async () => {
    const other = await rsaKeyPair();
    const t = translateSeed(files({ publicKey: other.publicPem }));
    const gateway = createGateway(t.config);
    const err = await gateway.ready.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map(t.locate)).toEqual([
      'public.pem: does not match privateKey (a JWT signed with one does not verify with the other)',
    ]);
  });
});

describe('PKCS#1 RSA keys (openssl genrsa -traditional, many Node projects)', () => {
  it('are rewrapped as PKCS#8 and SPKI that Web Crypto imports, and a gateway starts with them', async () => {
    const pair = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    expect(pair.privateKey).toContain('BEGIN RSA PRIVATE KEY');
    const pkcs8 = privateKeyToPkcs8(pair.privateKey);
    const spki = publicKeyToSpki(pair.publicKey);
    expect(pkcs8).toContain('BEGIN PRIVATE KEY');
    expect(spki).toContain('BEGIN PUBLIC KEY');
    // The same key as Node's own conversion, byte for byte.
    const { createPrivateKey, createPublicKey } = await import('node:crypto');
    expect(pkcs8).toBe(createPrivateKey(pair.privateKey).export({ type: 'pkcs8', format: 'pem' }));
    expect(spki).toBe(createPublicKey(pair.publicKey).export({ type: 'spki', format: 'pem' }));
    const gateway = createGateway(translateSeed(files({ privateKey: pair.privateKey, publicKey: pair.publicKey })).config);
    await expect(gateway.ready).resolves.toBeUndefined();
    await gateway.close();
  });

  it('leaves other PEM text alone', () => {
    expect(privateKeyToPkcs8(keys.privatePem)).toBe(keys.privatePem);
    expect(publicKeyToSpki('not a key')).toBe('not a key');
  });
});

describe('edgegate check --seed-config (CLI)', () => {
  it('prints every problem with its file and path and exits 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgegate-seed-bad-'));
    try {
      const sys = system();
      sys.service_endpoints.user[1].port = 'abc';
      await writeFile(join(dir, 'system-config.json'), JSON.stringify(sys));
      await writeFile(join(dir, 'api-rules.json'), '{ "user": ');
      const r = await runCli(['check', '--seed-config', dir]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`${join(dir, 'api-rules.json')}: is not valid JSON`);
      await writeFile(join(dir, 'api-rules.json'), JSON.stringify(rules()));
      const r2 = await runCli(['check', '--seed-config', dir]);
      expect(r2.code).toBe(2);
      expect(r2.stderr).toContain('system-config.json: service_endpoints.user[1].port: expected a port number, received "abc"');
      expect(r2.stderr).toContain('private.pem: expected the private key, which rules with "credential": true need (missing)');
    } finally {
      await removeDir(dir);
    }
  });

  it('refuses an unknown --seed-status', async () => {
    const r = await runCli(['check', '--seed-config', REFERENCE, '--seed-status=404']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--seed-status: expected 200 or semantic, received "404"');
  });
});
