// Upstream faults on real loopback processes, through the Node adapter: refused connections, an upstream
// that hangs, one that resets in the middle of its body, one slower than its timeout, invalid JSON on a
// login route. Each: the documented status and code, no crash, no unhandled rejection, the process's
// handles back to their baseline once closed, and recovery without restarting the gateway.
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { keygen } from '../../src/session/keys.ts';
import { type RunningGateway, startGateway } from '../helpers/gateway.ts';
import { deadPort, echo, startUpstream } from '../helpers/upstream.ts';
import { recordFigures } from '../security/figures.ts';
import { type FaultScope, faultCase, timed, until } from './harness.ts';

const survived: string[] = [];
afterAll(() => recordFigures('faults-upstream', { survived: survived.length, faults: survived }));

let scope: FaultScope;

/** Each case runs inside faultCase: closed at the end, then no handle left and no unhandled rejection. */
function fault(name: string, body: () => Promise<void>, timeout?: number) {
  it(
    name,
    () =>
      faultCase(async (s) => {
        scope = s;
        await body();
      }),
    timeout,
  );
}

async function gateway(config: Parameters<typeof startGateway>[0]): Promise<RunningGateway> {
  const errors: string[] = [];
  const gw = await startGateway(config, { logError: (m) => errors.push(m) });
  scope.defer(async () => {
    await gw.close();
    expect(
      errors.filter((e) => e.startsWith('unhandled')),
      'errors logged as gateway bugs',
    ).toEqual([]);
  });
  return gw;
}

/** A raw TCP server whose connections `behave` decides; closes every socket on cleanup. */
async function rawServer(behave: (socket: net.Socket) => void, port = 0): Promise<{ port: number; server: net.Server }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    behave(s);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  scope.defer(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { port: (server.address() as net.AddressInfo).port, server };
}

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

describe('upstream faults', () => {
  fault('refuses connections: 502 (10007) at once, then 200 as soon as it listens again', async () => {
    const port = await deadPort();
    const gw = await gateway({
      upstreams: { u: { targets: [{ url: `http://127.0.0.1:${port}` }] } },
      routes: [{ path: '/r', upstream: 'u' }],
    });
    for (let i = 0; i < 5; i++) {
      const r = await timed(`${gw.url}/r`);
      expect(r.status).toBe(502);
      expect(r.body).toEqual({ code: 10007, message: 'Network error', upstream: 'u' });
      expect(r.ms).toBeLessThan(1_000);
    }
    // The service comes back on the same port: the gateway notices without a restart.
    const server = createServer((req, res) => echo('back')(req, res, ''));
    await listen(server, port);
    scope.defer(() => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    });
    await until(async () => (await timed(`${gw.url}/r`)).status === 200, 5_000);
    survived.push('upstream refuses connections');
  });

  fault('hangs (accepts, never answers): 504 (10012) after its timeout, every time, and 200 once it answers', async () => {
    let answering = false;
    const server = createServer((req, res) => {
      if (answering) echo('alive')(req, res, '');
      // else: never answer
    });
    const port = await listen(server);
    scope.defer(() => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    });
    const gw = await gateway({
      upstreams: { u: { targets: [{ url: `http://127.0.0.1:${port}` }], timeout: '300ms' } },
      routes: [{ path: '/h', upstream: 'u' }],
    });
    const results = await Promise.all(Array.from({ length: 8 }, () => timed(`${gw.url}/h`)));
    for (const r of results) {
      expect(r.status).toBe(504);
      expect(r.body).toEqual({ code: 10012, message: 'Upstream timeout', upstream: 'u' });
      expect(r.ms).toBeGreaterThanOrEqual(280);
      expect(r.ms).toBeLessThan(1_500);
    }
    answering = true;
    await until(async () => (await timed(`${gw.url}/h`)).status === 200, 5_000);
    survived.push('upstream hangs');
  });

  fault('answers slower than its timeout: 504 (10012) on time, the late reply is dropped quietly', async () => {
    let delay = 1_000;
    const server = createServer((req, res) => {
      setTimeout(() => echo('late')(req, res, ''), delay);
    });
    const port = await listen(server);
    scope.defer(() => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    });
    const gw = await gateway({
      upstreams: { u: { targets: [{ url: `http://127.0.0.1:${port}` }], timeout: '5s' } },
      routes: [{ path: '/slow', upstream: 'u', timeout: '200ms' }],
    });
    const r = await timed(`${gw.url}/slow`);
    expect(r.status).toBe(504);
    expect(r.body).toEqual({ code: 10012, message: 'Upstream timeout', upstream: 'u' });
    expect(r.ms).toBeLessThan(800);
    // Let the late replies arrive at the aborted requests.
    await new Promise((res) => setTimeout(res, delay + 100));
    delay = 10;
    await until(async () => (await timed(`${gw.url}/slow`)).status === 200, 5_000);
    survived.push('upstream slower than its timeout');
  });

  fault('resets in the middle of its body: the client never takes the partial body for the whole one', async () => {
    let mode: 'chunked' | 'length' | 'head' | 'ok' = 'chunked';
    const { port } = await rawServer((s) => {
      s.once('data', () => {
        if (mode === 'ok') {
          s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
          return;
        }
        if (mode === 'chunked')
          s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nabc');
        if (mode === 'length') s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhello');
        if (mode === 'head') s.write('HTTP/1.1 200 OK\r\nContent-Ty');
        setTimeout(() => s.destroy(), 20);
      });
    });
    const gw = await gateway({
      upstreams: { u: { targets: [{ url: `http://127.0.0.1:${port}` }], retries: 0 } },
      routes: [{ path: '/reset', upstream: 'u' }],
    });
    for (const m of ['chunked', 'length'] as const) {
      mode = m;
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${gw.url}/reset`);
        // The headers went out before the reset; the body must then fail, never end cleanly.
        expect(res.status).toBe(200);
        await expect(res.text(), `${m}: a truncated body ended as if complete`).rejects.toThrow();
      }
    }
    // Reset before the headers were complete: nothing was sent yet, so a clean 502.
    mode = 'head';
    const r = await timed(`${gw.url}/reset`);
    expect(r.status).toBe(502);
    expect(r.body).toEqual({ code: 10007, message: 'Network error', upstream: 'u' });
    mode = 'ok';
    await until(async () => (await timed(`${gw.url}/reset`)).text === 'ok', 5_000);
    survived.push('upstream resets mid-body');
  });

  fault('sends invalid JSON to a login route: the reply passes through, and no session is created (fails closed)', async () => {
    let reply = '{"data":{"user_id":"u-1"'; // cut short
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(reply);
    });
    scope.defer(() => upstream.close());
    const key = await keygen('ES256', 'k');
    const gw = await gateway({
      upstreams: { auth: { targets: [{ url: upstream.url }] } },
      session: {
        keys: [{ kid: 'k', alg: 'ES256', privateKey: key.privateKeyPem }],
        issuer: 'https://faults.test',
        audience: 'api',
        token: { cookie: 'sid' },
      },
      routes: [
        { method: 'POST', path: '/login', upstream: 'auth', login: { userId: '/data/user_id', token: '/data/token', cookie: true } },
        { path: '/me', upstream: 'auth', auth: 'session' },
      ],
    });
    for (const bad of ['{"data":{"user_id":"u-1"', 'not json', '', '{"data":{"user_id":""}}', '{"data":[]}', 'null']) {
      reply = bad;
      const r = await timed(`${gw.url}/login`, { method: 'POST', body: '{}' });
      expect(r.status, bad).toBe(200);
      expect(r.text, bad).toBe(bad);
      expect(r.headers.get('set-cookie'), bad).toBeNull();
    }
    // Without a session there is nothing to present: the private route stays closed.
    expect((await timed(`${gw.url}/me`)).status).toBe(401);
    // A good reply logs in, without restarting anything.
    reply = '{"data":{"user_id":"u-1"}}';
    const ok = await fetch(`${gw.url}/login`, { method: 'POST', body: '{}' });
    const token = (await ok.json()).data.token as string;
    expect(typeof token).toBe('string');
    expect((await timed(`${gw.url}/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    survived.push('invalid JSON on a login route');
  });
});
