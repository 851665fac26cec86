// One test per bug that the fault, fuzz and abuse suites found, through the Node adapter and real sockets.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStoreFromConfig } from '../../adapters/node/redis-store.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { createGateway } from '../../src/gateway.ts';
import { createStore } from '../../src/store/create.ts';
import { type RunningGateway, startGateway } from '../helpers/gateway.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { rawExchange } from './raw.ts';

let echoUp: TestUpstream;
let oddConnection: TestUpstream;
let gw: RunningGateway;
let port: number;

beforeAll(async () => {
  echoUp = await startUpstream(echo('echo'));
  oddConnection = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'keep-alive, not a token' });
    res.end('ok');
  });
  gw = await startGateway({
    server: { bodyLimit: '1kb' },
    upstreams: { echo: { targets: [{ url: echoUp.url }] }, odd: { targets: [{ url: oddConnection.url }] } },
    routes: [
      { method: ['GET', 'POST', 'PUT'], path: '/echo/*', upstream: 'echo' },
      { path: '/odd', upstream: 'odd' },
      { method: ['GET', 'DELETE'], path: '/api/users/:id', upstream: 'echo', rewrite: '/account/users/:id' },
    ],
  });
  port = gw.server.port;
});

afterAll(async () => {
  await gw?.close();
  await echoUp?.close();
  await oddConnection?.close();
});

describe('regressions', () => {
  it('Expect: 100-continue (curl sends it for larger bodies) is proxied, not a 502', async () => {
    // Found by the request fuzzer: undici refuses an `expect` header, so every such request was a 502.
    const reply = await rawExchange(
      port,
      'POST /echo/upload HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 11\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{"a":"xyz"}',
    );
    expect(reply.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK')).toBe(true);
    const seen = echoUp.seen.at(-1)!;
    expect(seen.body).toBe('{"a":"xyz"}');
    expect(seen.headers.expect).toBeUndefined();
  });

  it('a Connection header naming something that is not a header name is not a 500, either way', async () => {
    // Found by the request fuzzer: Headers.delete("Bearer a b") throws, and the request became a 500.
    const reply = await rawExchange(port, 'GET /echo/x HTTP/1.1\r\nHost: gw\r\nConnection: Bearer a b, x-drop, close\r\nX-Drop: 1\r\n\r\n');
    expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(echoUp.seen.at(-1)!.headers['x-drop']).toBeUndefined();
    const res = await fetch(`${gw.url}/odd`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  });

  it('a ".." hidden from URL parsing (%2f, %5c, "..;") never reaches the upstream, which could climb out of the prefix', async () => {
    // Found by the request fuzzer: /static/..; went upstream as /files/..; (Tomcat drops ";..." and
    // climbs), and /echo/..%2f..%2fadmin as is (nginx decodes %2f before it resolves dot segments).
    const hidden = [
      '/echo/..;/admin',
      '/echo/x/..;jsessionid=1/..;/admin',
      '/echo/..%2f..%2fadmin',
      '/echo/%2e%2e%2Fadmin',
      '/echo/.%2e%5cadmin',
      '/echo/..%5c..%5cwin.ini',
      '/api/users/..%2fadmin',
      '/api/users/..%2F..%2Fadmin',
      '/api/users/..%5Cadmin',
    ];
    for (const path of hidden) {
      const before = echoUp.seen.length;
      const reply = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`);
      expect(reply.split('\r\n')[0], path).toBe('HTTP/1.1 400 Bad Request');
      expect(reply.endsWith('{"code":10009,"message":"Malformed request","reason":"the path hides a \\"..\\" segment"}'), reply).toBe(true);
      expect(echoUp.seen.length, path).toBe(before);
    }
    // Dots that are not a segment of their own, and encoded slashes without dots, still pass.
    for (const [path, upstreamPath] of [
      ['/echo/a..b/v1.2.json', '/echo/a..b/v1.2.json'],
      ['/echo/%2e%2e-not-a-segment', '/echo/%2e%2e-not-a-segment'],
      ['/echo/a%2Fb', '/echo/a%2Fb'],
      ['/api/users/a%2Fb', '/account/users/a%2Fb'],
      ['/api/users/..x', '/account/users/..x'],
    ]) {
      const res = await fetch(`${gw.url}${path}`);
      expect(res.status, path).toBe(200);
      expect((await res.json()).url, path).toBe(upstreamPath);
    }
  });

  it('a rewrite with a ".." segment is a config problem', () => {
    const config = {
      upstreams: { u: { targets: [{ url: 'http://127.0.0.1:9' }] } },
      routes: [{ path: '/a/*', upstream: 'u', rewrite: '/b/../*' }],
    };
    expect(() => createGateway(config)).toThrow(ConfigError);
    expect(() => createGateway(config)).toThrow('routes[0].rewrite: expected a path without ".." segments');
  });

  it("a timeout or budget past setTimeout's range (or zero) is a config problem, not a timer that fires at once", async () => {
    // Found by the config fuzzer: upstream timeout "30d" overflowed setTimeout (2^31 - 1 ms), which
    // then fired after 1 ms, so every request was a 504; a "30d" limits budget failed every limit.
    const base = { upstreams: { u: { targets: [{ url: 'http://127.0.0.1:9' }] } }, routes: [{ path: '/a', upstream: 'u' }] };
    const cases: [string, object][] = [
      ['upstreams.u.timeout', { ...base, upstreams: { u: { targets: [{ url: 'http://127.0.0.1:9' }], timeout: '30d' } } }],
      ['routes[0].timeout', { ...base, routes: [{ path: '/a', upstream: 'u', timeout: 2 ** 31 }] }],
      ['routes[0].timeout', { ...base, routes: [{ path: '/a', upstream: 'u', timeout: 0 }] }],
      ['limits.failure.budget', { ...base, limits: { failure: { budget: '25d' } } }],
      ['store.timeout', { ...base, store: { type: 'redis', url: 'redis://127.0.0.1:9', timeout: '1000d' } }],
      ['store.timeout', { ...base, store: { type: 'upstash', url: 'https://u.example', token: 't', timeout: 0 } }],
      [
        'session.remoteJwks.timeout',
        { ...base, session: { remoteJwks: { url: 'https://idp.example/jwks', issuer: 'i', audience: 'a', timeout: '30d' } } },
      ],
    ];
    for (const [path, doc] of cases) {
      expect(() => parseConfig(doc), path).toThrow(ConfigError);
      try {
        parseConfig(doc);
      } catch (err) {
        expect((err as ConfigError).problems.join('\n'), path).toContain(`${path}: expected a timeout from 1 ms to "24d"`);
      }
    }
    // The longest timer that works is accepted, and does not fire early.
    const slowish = await startUpstream((_req, res) => {
      setTimeout(() => res.end('late'), 30);
    });
    try {
      const ok = createGateway({
        upstreams: { u: { targets: [{ url: slowish.url }], timeout: '24d' } },
        routes: [{ path: '/a', upstream: 'u' }],
      });
      const res = await ok.fetch(new Request('http://gw/a'));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('late');
    } finally {
      await slowish.close();
    }
  });

  it('a Redis URL the URL parser refuses is a config problem, not a stack trace at start-up', () => {
    // Found by the config fuzzer: "redis://:@" passed the schema's pattern, and `edgegate check` said ok,
    // then `edgegate serve` died with "TypeError: Invalid URL" from the Redis client.
    for (const url of ['redis://:@', 'redis://[', 'redis://h:99999']) {
      const doc = { store: { type: 'redis', url }, routes: [{ path: '/a' }] };
      expect(() => parseConfig(doc), url).toThrow(
        `store.url: expected a redis:// or rediss:// URL with a host, received ${JSON.stringify(url)}`,
      );
    }
    expect(() => parseConfig({ store: { type: 'redis', host: '127.0.0.1', port: 70000 }, routes: [{ path: '/a' }] })).toThrow(
      'store.port: expected a port number from 1 to 65535',
    );
    // Whatever else the client refuses at construction is a ConfigError too.
    const refusing = () => {
      throw new TypeError('bad setting');
    };
    expect(() => createStore({ type: 'redis', url: 'redis://127.0.0.1:9', timeout: 100 }, {}, { redis: refusing })).toThrow(ConfigError);
    const ok = createStore(
      parseConfig({ store: { type: 'redis', url: 'redis://127.0.0.1:9/2', timeout: 100 }, routes: [{ path: '/a' }] }).store,
      {},
      {
        redis: redisStoreFromConfig,
      },
    );
    return ok.close();
  });

  it('a client that goes away mid-body is a 400 in the log, not a 500 "unhandled error"', async () => {
    // Found while probing client aborts for the fault suite: the body read rejected with "aborted", which reached onError as a bug.
    const errors: string[] = [];
    const g = await startGateway(
      {
        upstreams: { echo: { targets: [{ url: echoUp.url }] } },
        routes: [{ method: 'POST', path: '/p', upstream: 'echo', params: { body: { x: { type: 'string' } } } }],
      },
      { logError: (message) => errors.push(message) },
    );
    try {
      const socket = net.connect(g.server.port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.write('POST /p HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"x":');
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
      await expect.poll(() => g.log.length).toBe(1);
      expect(g.log[0].status).toBe(400);
      expect(errors).toEqual([]);
    } finally {
      await g.close();
    }
  });

  it("a client's body (over the limit, or cut short mid-stream) never counts against the upstream's health", async () => {
    // Found while probing client aborts: with health.failures 1, one chunked body over the limit ejected
    // a target for the whole cool-down, so any client could empty a pool of all but one target.
    const b = await startUpstream(echo('b'));
    const g = await startGateway({
      server: { bodyLimit: '1kb' },
      upstreams: { ab: { targets: [{ url: echoUp.url }, { url: b.url }], retries: 0, health: { failures: 1, cooldown: '60s' } } },
      routes: [{ method: ['GET', 'POST'], path: '/ab/*', upstream: 'ab' }],
    });
    const spread = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 24; i++) seen.add((await (await fetch(`${g.url}/ab/x`)).json()).instance);
      return [...seen].sort();
    };
    try {
      expect(await spread()).toEqual(['b', 'echo']);
      for (let i = 0; i < 3; i++) {
        const big = 'x'.repeat(2_000);
        const reply = await rawExchange(
          g.server.port,
          `POST /ab/up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
          3_000,
        );
        expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
        // And one that goes away in the middle of its body.
        const socket = net.connect(g.server.port, '127.0.0.1');
        await new Promise((r) => socket.once('connect', r));
        socket.write('POST /ab/up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        await new Promise((r) => setTimeout(r, 100));
        socket.destroy();
      }
      await expect.poll(() => g.log.filter((e) => e.path === '/ab/up').length).toBe(6);
      expect(
        g.log
          .filter((e) => e.path === '/ab/up')
          .map((e) => e.status)
          .sort(),
      ).toEqual([400, 400, 400, 413, 413, 413]);
      expect(await spread()).toEqual(['b', 'echo']);
    } finally {
      await g.close();
      await b.close();
    }
  });

  it('headers that would make an upstream act on another path or method never reach it', async () => {
    // Found in review for the abuse suite: a POST-only route passed X-HTTP-Method-Override: DELETE and
    // X-Original-URL: /admin through, which Express's method-override, IIS and Symfony act on.
    const res = await fetch(`${gw.url}/echo/orders`, {
      method: 'POST',
      headers: {
        'x-http-method-override': 'DELETE',
        'x-http-method': 'DELETE',
        'x-method-override': 'DELETE',
        'x-original-url': '/admin',
        'x-rewrite-url': '/admin',
      },
      body: '{}',
    });
    const seen = (await res.json()).headers;
    for (const name of ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url']) {
      expect(seen[name], name).toBeUndefined();
    }
  });
});
