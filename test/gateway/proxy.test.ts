// The foundation end to end: real upstreams on loopback, the Node adapter, real HTTP.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../helpers/gateway.ts';
import { deadPort, echo, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let a: TestUpstream;
let slow: TestUpstream;
let streaming: TestUpstream;
let gw: RunningGateway;

beforeAll(async () => {
  a = await startUpstream(echo('a'));
  slow = await startUpstream((_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"late":true}');
    }, 1_500);
  });
  streaming = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first\n');
    setTimeout(() => res.end('second\n'), 400);
  });
  gw = await startGateway({
    server: { bodyLimit: '64kb' },
    upstreams: {
      a: { targets: [{ url: a.url }] },
      slow: { targets: [{ url: slow.url }], timeout: '300ms' },
      streaming: { targets: [{ url: streaming.url }] },
      dead: { targets: [{ url: `http://127.0.0.1:${await deadPort()}` }] },
    },
    routes: [
      { method: ['GET', 'POST'], path: '/echo/*', upstream: 'a' },
      { method: 'GET', path: '/users/:id', upstream: 'a', rewrite: '/account/users/:id' },
      {
        method: 'POST',
        path: '/login',
        upstream: 'a',
        params: { body: { email: { mandatory: true, regex: 'email', max_length: 100 }, age: { type: 'integer', min: 18 } } },
      },
      { method: 'GET', path: '/search', upstream: 'a', params: { query: { q: { mandatory: true, max_length: 5 } } } },
      { method: 'GET', path: '/slow', upstream: 'slow' },
      { method: 'GET', path: '/stream', upstream: 'streaming' },
      { method: 'GET', path: '/dead', upstream: 'dead' },
      { method: 'POST', path: '/big', upstream: 'a', bodyLimit: '2mb' },
      { method: 'GET', path: '/nowhere' },
      { method: 'POST', path: '/as-query', upstream: 'a', rewrite: '/profile', forward: { method: 'GET', bodyAsQuery: true } },
    ],
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([a, slow, streaming].map((u) => u?.close()));
});

describe('proxying', () => {
  it('forwards path, query and headers, and sets the forwarding headers', async () => {
    // node:http, because fetch refuses to send Connection-named headers at all.
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${gw.url}/echo/x/y?q=1&q=2`,
        { headers: { 'x-custom': 'v', connection: 'x-drop', 'x-drop': '1', te: 'trailers' } },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    const body = JSON.parse(text);
    expect(body.headers.te).toBeUndefined();
    expect(body.url).toBe('/echo/x/y?q=1&q=2');
    expect(body.headers['x-custom']).toBe('v');
    expect(body.headers['x-drop']).toBeUndefined();
    expect(body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(body.headers['x-forwarded-proto']).toBe('http');
    expect(body.headers['x-forwarded-host']).toBe(new URL(gw.url).host);
    expect(body.headers.host).toBe(`127.0.0.1:${a.port}`);
    expect(body.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('returns the request id to the client', async () => {
    const res = await fetch(`${gw.url}/echo/rid`);
    expect(res.headers.get('x-request-id')).toBe((await res.json()).headers['x-request-id']);
  });

  it('keeps a valid client request id and replaces an invalid one', async () => {
    const kept = await (await fetch(`${gw.url}/echo/id`, { headers: { 'x-request-id': 'abc-123' } })).json();
    expect(kept.headers['x-request-id']).toBe('abc-123');
    const replaced = await (await fetch(`${gw.url}/echo/id`, { headers: { 'x-request-id': 'bad id with spaces' } })).json();
    expect(replaced.headers['x-request-id']).not.toBe('bad id with spaces');
  });

  it('rewrites the upstream path with the route params, encoded', async () => {
    const body = await (await fetch(`${gw.url}/users/42`)).json();
    expect(body.url).toBe('/account/users/42');
    // Encoded, "../" would still climb out of /account/users/ at an upstream that decodes %2F (nginx):
    // refused (see test/security/regressions.test.ts).
    const tricky = await fetch(`${gw.url}/users/..%2F..%2Fadmin`);
    expect(tricky.status).toBe(400);
    expect((await tricky.json()).code).toBe(10009);
    expect((await (await fetch(`${gw.url}/users/a%2Fb`)).json()).url).toBe('/account/users/a%2Fb');
  });

  it('streams the response body as it arrives', async () => {
    const res = await fetch(`${gw.url}/stream`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('first\n');
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toBe('second\n');
  });

  it('streams a large request body to the upstream', async () => {
    const payload = 'x'.repeat(1_500_000);
    const res = await fetch(`${gw.url}/big`, { method: 'POST', body: payload, headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(200);
    expect((await res.json()).body.length).toBe(payload.length);
  });

  it('can send a JSON body upstream as a GET query string', async () => {
    const res = await fetch(`${gw.url}/as-query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 7, name: 'a b' }),
    });
    const body = await res.json();
    expect(body.method).toBe('GET');
    expect(body.url).toBe('/profile?id=7&name=a+b');
    expect(body.body).toBe('');
  });

  it('writes one access-log entry per request', async () => {
    const before = gw.log.length;
    await fetch(`${gw.url}/users/7`);
    const entry = gw.log.slice(before).find((e) => e.path === '/users/7');
    expect(entry).toMatchObject({ method: 'GET', status: 200, route: 'GET /users/:id', upstream: a.url, ip: '127.0.0.1' });
    expect(entry?.request_id).toBeTruthy();
  });
});

describe('errors', () => {
  it('404 for an unknown path', async () => {
    const res = await fetch(`${gw.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: 10002, message: 'Invalid service endpoint' });
  });

  it('405 with Allow for a known path and another method', async () => {
    const res = await fetch(`${gw.url}/users/1`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect((await res.json()).code).toBe(10001);
  });

  it('422 lists every failing field', async () => {
    const res = await fetch(`${gw.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ age: 12, extra: 1 }),
    });
    expect(res.status).toBe(422);
    const body = await res.json();
    expect(body.code).toBe(10006);
    const fields = body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(['body.age', 'body.email', 'body.extra']);
  });

  it('422 for query rules, 200 when they pass', async () => {
    expect((await fetch(`${gw.url}/search`)).status).toBe(422);
    expect((await fetch(`${gw.url}/search?q=toolong`)).status).toBe(422);
    expect((await fetch(`${gw.url}/search?q=ok`)).status).toBe(200);
  });

  it('400 for a malformed JSON body', async () => {
    const res = await fetch(`${gw.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":' });
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe(10009);
  });

  it('413 on a declared length over the limit, without reading the body', async () => {
    const res = await fetch(`${gw.url}/echo/x`, { method: 'POST', body: 'y'.repeat(70 * 1024) });
    expect(res.status).toBe(413);
    expect((await res.json()).code).toBe(10011);
  });

  it('413 on a streamed (chunked) body over the limit', async () => {
    const chunk = new Uint8Array(16 * 1024);
    let sent = 0;
    const body = new ReadableStream({
      pull(controller) {
        if (sent++ < 10) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${gw.url}/echo/x`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
  });

  it('504 when the upstream is slower than its timeout', async () => {
    const res = await fetch(`${gw.url}/slow`);
    expect(res.status).toBe(504);
    expect((await res.json()).code).toBe(10012);
  });

  it('502 when the upstream refuses connections', async () => {
    const res = await fetch(`${gw.url}/dead`);
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: 10007, message: 'Network error' });
  });

  it('503 for a route without an upstream', async () => {
    const res = await fetch(`${gw.url}/nowhere`);
    expect(res.status).toBe(503);
    expect((await res.json()).code).toBe(10008);
  });
});
