// One black-box HTTP suite, run unchanged on the Node adapter, the Worker in workerd and the Deno
// adapter, against the same real loopback upstreams: the three runtimes must behave the same.
import { type IncomingHttpHeaders, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRuntime, type RuntimeKind, startRuntime } from '../helpers/runtimes.ts';
import { deadPort, echo, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const RUNTIMES: RuntimeKind[] = ['node', 'workerd', 'deno'];

let a: TestUpstream;
let w1: TestUpstream;
let w2: TestUpstream;
let slow: TestUpstream;
let streaming: TestUpstream;
let config: object;

beforeAll(async () => {
  [a, w1, w2] = await Promise.all([startUpstream(echo('a')), startUpstream(echo('w1')), startUpstream(echo('w2'))]);
  slow = await startUpstream((_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"late":true}');
    }, 1_500);
  });
  // text/event-stream, as streamed replies are in practice: Cloudflare's edge (and Miniflare, which
  // emulates it) gzips text/plain for clients that accept it, and its encoder holds chunks back.
  streaming = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('first\n');
    setTimeout(() => res.end('second\n'), 400);
  });
  config = {
    server: { bodyLimit: '64kb' },
    upstreams: {
      a: { targets: [{ url: a.url }] },
      weighted: {
        targets: [
          { url: w1.url, weight: 3 },
          { url: w2.url, weight: 1 },
        ],
        retries: 0,
      },
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
      // The test client is on loopback on every runtime. On workerd the gateway takes the client IP
      // from CF-Connecting-IP; Miniflare's entry worker sets it from the socket's peer address, as
      // Cloudflare's edge does, so the test sends nothing special for it.
      { method: 'GET', path: '/ip/denied', upstream: 'a', ipRules: { deny: ['127.0.0.0/8', '::1'] } },
      { method: 'GET', path: '/ip/elsewhere', upstream: 'a', ipRules: { allow: ['10.0.0.0/8'] } },
      { method: 'GET', path: '/ip/loopback', upstream: 'a', ipRules: { allow: ['127.0.0.1', '::1'] } },
      { method: 'GET', path: '/weighted', upstream: 'weighted' },
      { method: 'GET', path: '/slow', upstream: 'slow' },
      { method: 'GET', path: '/stream', upstream: 'streaming' },
      { method: 'GET', path: '/dead', upstream: 'dead' },
      { method: 'POST', path: '/big', upstream: 'a', bodyLimit: '2mb' },
      { method: 'GET', path: '/nowhere' },
    ],
  };
});

afterAll(async () => {
  await Promise.all([a, w1, w2, slow, streaming].map((u) => u?.close()));
});

function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(RUNTIMES)('%s', (kind) => {
  let rt: RunningRuntime;
  const get = (path: string, init?: RequestInit) => fetch(`${rt.url}${path}`, init);

  beforeAll(async () => {
    rt = await startRuntime(kind, config);
  });

  afterAll(async () => {
    await rt?.close();
  });

  describe('routing and proxying', () => {
    it('forwards path and repeated query parameters unchanged', async () => {
      const res = await get('/echo/x/y?q=1&q=2&e=%20');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-instance')).toBe('a');
      const body = await res.json();
      expect(body).toMatchObject({ method: 'GET', url: '/echo/x/y?q=1&q=2&e=%20' });
    });

    it('rewrites the upstream path with the route params, encoded', async () => {
      expect((await (await get('/users/42')).json()).url).toBe('/account/users/42');
      // A param that decodes to "../" could climb out of the rewrite at an upstream that decodes %2F.
      const tricky = await get('/users/..%2F..%2Fadmin');
      expect(tricky.status).toBe(400);
      expect((await tricky.json()).code).toBe(10009);
      expect((await (await get('/users/a%2Fb')).json()).url).toBe('/account/users/a%2Fb');
    });

    it('forwards a POST body and its content type', async () => {
      const res = await get('/echo/post', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k":1}' });
      const body = await res.json();
      expect(body).toMatchObject({ method: 'POST', body: '{"k":1}' });
      expect(body.headers['content-type']).toBe('application/json');
    });

    it('answers HEAD on a GET route', async () => {
      const res = await get('/users/1', { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('');
    });

    it('sets the forwarding headers and drops hop-by-hop ones', async () => {
      // Through node:http: fetch refuses to send a Connection header.
      const res = await rawGet(`${rt.url}/echo/h`, { 'x-custom': 'v', connection: 'x-drop', 'x-drop': '1' });
      const { headers } = JSON.parse(res.body);
      expect(headers['x-custom']).toBe('v');
      expect(headers['x-drop']).toBeUndefined();
      expect(headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(headers['x-forwarded-proto']).toBe('http');
      expect(headers['x-forwarded-host']).toBe(new URL(rt.url).host);
      expect(headers.host).toBe(`127.0.0.1:${a.port}`);
      expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers['x-request-id']).toBe(headers['x-request-id']);
    });

    it('keeps a valid client request id and replaces an invalid one', async () => {
      expect((await (await get('/echo/id', { headers: { 'x-request-id': 'abc-123' } })).json()).headers['x-request-id']).toBe('abc-123');
      const replaced = await (await get('/echo/id', { headers: { 'x-request-id': 'bad id' } })).json();
      expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('streams the response body as it arrives', async () => {
      const res = await get('/stream');
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      // The upstream holds 'second' back for 400 ms: a buffering proxy would deliver both at once.
      expect(decoder.decode((await reader.read()).value)).toBe('first\n');
      let rest = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += decoder.decode(value, { stream: true });
      }
      expect(rest).toBe('second\n');
    });

    it('streams a large request body to the upstream', async () => {
      const payload = 'x'.repeat(1_500_000);
      const res = await get('/big', { method: 'POST', body: payload, headers: { 'content-type': 'text/plain' } });
      expect(res.status).toBe(200);
      expect((await res.json()).body.length).toBe(payload.length);
    });

    it('spreads requests over weighted targets (3:1)', async () => {
      const counts = { w1: 0, w2: 0 };
      for (let batch = 0; batch < 20; batch++) {
        const replies = await Promise.all(Array.from({ length: 20 }, () => get('/weighted')));
        for (const r of replies) {
          counts[r.headers.get('x-instance') as 'w1' | 'w2']++;
          await r.body?.cancel();
        }
      }
      expect(counts.w1 + counts.w2).toBe(400);
      // Expected 300:100; 0.6–0.9 is over 5 standard deviations wide either side.
      expect(counts.w1 / 400).toBeGreaterThan(0.6);
      expect(counts.w1 / 400).toBeLessThan(0.9);
    });
  });

  describe('rules', () => {
    it('404 for an unknown path', async () => {
      const res = await get('/nope');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ code: 10002, message: 'Invalid service endpoint' });
    });

    it('405 with Allow for a known path and another method', async () => {
      const res = await get('/users/1', { method: 'DELETE' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      expect((await res.json()).code).toBe(10001);
    });

    it('422 lists every failing field', async () => {
      const res = await get('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ age: 12, extra: 1 }),
      });
      expect(res.status).toBe(422);
      const body = await res.json();
      expect(body.code).toBe(10006);
      expect(body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['body.age', 'body.email', 'body.extra']);
    });

    it('422 for query rules, 200 when they pass', async () => {
      expect((await get('/search')).status).toBe(422);
      expect((await get('/search?q=toolong')).status).toBe(422);
      expect((await get('/search?q=ok')).status).toBe(200);
    });

    it('400 for a malformed JSON body', async () => {
      const res = await get('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":' });
      expect(res.status).toBe(400);
      expect((await res.json()).code).toBe(10009);
    });

    it('413 on a declared length over the limit', async () => {
      const res = await get('/echo/x', { method: 'POST', body: 'y'.repeat(70 * 1024) });
      expect(res.status).toBe(413);
      expect((await res.json()).code).toBe(10011);
    });

    // On workerd a body stream that errors ends the upstream request as if complete; the gateway
    // aborts the upstream fetch first (src/body.ts limitStream), so every runtime answers 413.
    it('413 on a streamed (chunked) body over the limit', async () => {
      const chunk = new Uint8Array(16 * 1024);
      let sent = 0;
      const body = new ReadableStream({
        pull(controller) {
          if (sent++ < 10) controller.enqueue(chunk);
          else controller.close();
        },
      });
      const res = await get('/echo/x', { method: 'POST', body, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(413);
      expect((await res.json()).code).toBe(10011);
    });

    it('403 when the client IP is denied or not allowed; 200 when allowed', async () => {
      const denied = await get('/ip/denied');
      expect(denied.status).toBe(403);
      expect((await denied.json()).code).toBe(10010);
      expect((await get('/ip/elsewhere')).status).toBe(403);
      expect((await get('/ip/loopback')).status).toBe(200);
    });
  });

  describe('upstream failures', () => {
    it('502 when the upstream refuses connections', async () => {
      const res = await get('/dead');
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ code: 10007, message: 'Network error' });
    });

    it('504 when the upstream is slower than its timeout', async () => {
      const started = Date.now();
      const res = await get('/slow');
      expect(res.status).toBe(504);
      expect((await res.json()).code).toBe(10012);
      expect(Date.now() - started).toBeLessThan(1_400);
    });

    it('503 for a route without an upstream', async () => {
      const res = await get('/nowhere');
      expect(res.status).toBe(503);
      expect((await res.json()).code).toBe(10008);
    });
  });

  // STATEFUL CASES (rate limits, sessions) go here, with the Upstash store through the Redis REST
  // bridge (adapters/node/redis-rest.ts) so that all three runtimes share one real Redis. See
  // test/conformance/stateful.test.ts.
});
