// The envelope protocol in process (createGateway on the memory store, a real upstream): validation
// order and codes, request_id validity, the reply shapes, exclusive and shared modes, always-200.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/compat/envelope.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { type AccessLogEntry, createGateway, type Gateway } from '../../src/gateway.ts';
import { memoryStore } from '../../src/store/memory.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let upstream: TestUpstream;
beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

function gatewayWith(overrides: Partial<ConfigInput> = {}, log?: AccessLogEntry[]): Gateway {
  return createGateway(
    {
      server: { accessLog: log !== undefined, bodyLimit: 4096 },
      envelope: {},
      upstreams: { user: { targets: [{ url: upstream.url }] } },
      routes: [
        {
          name: 'user.login',
          method: 'POST',
          path: '/user/login',
          upstream: 'user',
          rewrite: '/account/login',
          params: { body: { email: { mandatory: true, regex: 'email' } }, unknown: 'reject' },
        },
        { name: 'user.echo', method: 'POST', path: '/user/echo', upstream: 'user', rewrite: '/echo' },
        {
          name: 'user.search',
          method: 'POST',
          path: '/user/search',
          upstream: 'user',
          rewrite: '/search',
          forward: { method: 'GET', bodyAsQuery: true },
        },
      ],
      ...overrides,
    },
    { store: memoryStore(), clientIp: () => '10.0.0.1', accessLog: log === undefined ? undefined : (e) => log.push(e) },
  );
}

async function post(g: Gateway, body: unknown, init: RequestInit & { path?: string } = {}) {
  const res = await g.fetch(
    new Request(`http://gw${init.path ?? '/'}`, {
      method: init.method ?? 'POST',
      headers: init.headers ?? { 'content-type': 'application/json' },
      body: init.method === 'GET' ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
}

describe('request_id', () => {
  it.each([
    ['a word', 'abc', 'abc'],
    ['a UUID', '3f0e8c1e-8a3b-4c7e-9d1a-2b6f0c4e5a71', '3f0e8c1e-8a3b-4c7e-9d1a-2b6f0c4e5a71'],
    ['128 characters', 'x'.repeat(128), 'x'.repeat(128)],
    ['the header set of punctuation', 'a.b_c:d@e/f+g=h-i', 'a.b_c:d@e/f+g=h-i'],
    ['zero', 0, '0'],
    ['a safe integer', 1_700_000_000_123, '1700000000123'],
  ])('accepts %s', (_label, value, text) => {
    expect(requestIdOf(value)).toBe(text);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a space', 'r 1'],
    ['a newline', 'r\n1'],
    ['non-ASCII', 'réq'],
    ['negative', -1],
    ['fractional', 1.5],
    ['unsafe', 2 ** 53],
    ['null', null],
    ['true', true],
    ['an object', { id: 1 }],
  ])('refuses %s', (_label, value) => {
    expect(requestIdOf(value)).toBeUndefined();
  });
});

describe('the envelope', () => {
  it('validates in the original order: service, event, request_id, body', async () => {
    const g = gatewayWith();
    const cases: [unknown, number][] = [
      [{ event: 'x' }, 10002],
      [{ service: 'nope', event: 'x' }, 10002],
      [{ service: 'constructor', event: 'x' }, 10002],
      [{ service: 'user', event: 'toString' }, 10004],
      [{ service: 'user', event: 'login' }, 10003],
      [{ service: 'user', event: 'login', request_id: 'r', body: [] }, 10006],
      [{ service: 'user', event: 'login', request_id: 'r', body: null }, 10006],
      [{ service: 'user', event: 'login', request_id: 'r', body: {} }, 10006],
    ];
    for (const [doc, code] of cases) expect((await post(g, doc)).body.code, JSON.stringify(doc)).toBe(code);
  });

  it('answers a body that is no JSON object with 10009 (400)', async () => {
    const g = gatewayWith();
    for (const text of ['{', '[1]', '"x"', '']) {
      const r = await post(g, text);
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ code: 10009, message: 'Malformed request' });
    }
  });

  it('answers an envelope over server.bodyLimit with 10011 (413)', async () => {
    const r = await post(gatewayWith(), { service: 'user', event: 'echo', request_id: 'r', body: { pad: 'x'.repeat(5000) } });
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ code: 10011, message: 'Payload too large' });
  });

  it('answers errors as exactly { code, message }, while native routes keep their details', async () => {
    const g = gatewayWith({ envelope: { exclusive: false } });
    const wrapped = await post(g, { service: 'user', event: 'login', request_id: 'r', body: { email: 'x' } });
    expect(wrapped.body).toEqual({ code: 10006, message: 'Invalid data' });
    const direct = await post(g, { email: 'x' }, { path: '/user/login' });
    expect(direct.body).toMatchObject({ code: 10006, errors: [{ field: 'body.email', reason: 'must match email' }] });
  });

  it('sends the body upstream as JSON with the client headers, and the envelope request_id as X-Request-Id', async () => {
    const g = gatewayWith();
    const r = await post(
      g,
      { service: 'user', event: 'echo', request_id: 'trace-1', body: { a: 1, nested: { b: [true] } } },
      { headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'app/2', token: 't-1', 'x-request-id': 'ignored' } },
    );
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toBe('trace-1');
    expect(r.body.method).toBe('POST');
    expect(r.body.url).toBe('/echo');
    expect(JSON.parse(r.body.body)).toEqual({ a: 1, nested: { b: [true] } });
    expect(r.body.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'app/2',
      token: 't-1',
      'x-request-id': 'trace-1',
      'x-forwarded-for': '10.0.0.1',
    });
  });

  it('sends an empty object when the envelope has no body', async () => {
    const r = await post(gatewayWith(), { service: 'user', event: 'echo', request_id: 'r' });
    expect(JSON.parse(r.body.body)).toEqual({});
  });

  it('forwards GET rules with the fields as the query string and no body', async () => {
    const r = await post(gatewayWith(), { service: 'user', event: 'search', request_id: 'r', body: { q: 'a b', page: 2, tags: ['x'] } });
    expect(r.body.method).toBe('GET');
    expect(r.body.url).toBe('/search?q=a+b&page=2&tags=%5B%22x%22%5D');
    expect(r.body.body).toBe('');
    expect(r.body.headers['content-type']).toBeUndefined();
  });

  it('logs one access-log line per envelope, with the route and the request_id', async () => {
    const log: AccessLogEntry[] = [];
    const g = gatewayWith({}, log);
    await post(g, { service: 'user', event: 'echo', request_id: 'log-1' });
    await post(g, { service: 'user', event: 'nope', request_id: 'log-2' });
    expect(log.map((e) => [e.path, e.route, e.status, e.request_id])).toEqual([
      ['/', 'user.echo', 200, 'log-1'],
      ['/', null, 404, expect.any(String)],
    ]);
  });

  it('exclusive (default): every other path answers 10002', async () => {
    const g = gatewayWith();
    const r = await post(g, { email: 'a@b.co' }, { path: '/user/echo' });
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ code: 10002, message: 'Invalid service endpoint' });
  });

  it('shared (exclusive: false): the routes answer on their own paths too', async () => {
    const g = gatewayWith({ envelope: { exclusive: false } });
    const r = await post(g, { any: 1 }, { path: '/user/echo' });
    expect(r.status).toBe(200);
    expect(r.body.url).toBe('/echo');
  });

  it('serves on another path when configured', async () => {
    const g = gatewayWith({ envelope: { path: '/api' } });
    expect((await post(g, { service: 'user', event: 'echo', request_id: 'r' }, { path: '/api' })).status).toBe(200);
    expect((await post(g, { service: 'user', event: 'echo', request_id: 'r' })).body.code).toBe(10002);
  });
});

describe('server.errorStatus: "always-200"', () => {
  it('answers the envelope errors with 200 and the code in the body', async () => {
    const g = gatewayWith({ server: { errorStatus: 'always-200' } });
    for (const [doc, code] of [
      [{ service: 'nope' }, 10002],
      ['{', 10009],
      [{ service: 'user', event: 'login', request_id: 'r', body: {} }, 10006],
    ] as const) {
      const r = await post(g, doc);
      expect(r.status).toBe(200);
      expect(r.body.code).toBe(code);
    }
    const get = await post(g, undefined, { method: 'GET' });
    expect(get.status).toBe(200);
    expect(get.body.code).toBe(10001);
  });

  it('applies to the gateway’s own replies in native mode; upstream replies keep their status', async () => {
    const native = createGateway(
      {
        server: { errorStatus: 'always-200' },
        upstreams: { api: { targets: [{ url: upstream.url }] } },
        routes: [{ path: '/x', method: 'GET', upstream: 'api' }],
      },
      { store: memoryStore() },
    );
    const missing = await native.fetch(new Request('http://gw/nope'));
    expect(missing.status).toBe(200);
    expect(await missing.json()).toEqual({ code: 10002, message: 'Invalid service endpoint' });
    const wrongMethod = await native.fetch(new Request('http://gw/x', { method: 'DELETE' }));
    expect(wrongMethod.status).toBe(200);
    expect((await wrongMethod.json()).code).toBe(10001);
  });
});
