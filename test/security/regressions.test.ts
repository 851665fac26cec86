// One test per bug that the fault, fuzz and abuse suites found, through the Node adapter and real sockets.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.ts';
import { createGateway } from '../../src/gateway.ts';
import { type RunningGateway, startGateway } from '../helpers/gateway.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

/** Sends raw bytes and collects what comes back until the server closes or `waitMs` passes. */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 1_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (d) => {
      out += d.toString('latin1');
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(bytes);
  });
}

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
    const reply = await rawExchange(port, 'GET /echo/x HTTP/1.1\r\nHost: gw\r\nConnection: Bearer a b, x-drop\r\nX-Drop: 1\r\n\r\n', 500);
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
      const reply = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`, 500);
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
});
