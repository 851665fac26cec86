// Abuse limits through the Node adapter on real sockets: body size, slow and stalled bodies, slow
// headers, header size and count, token size, spoofed X-Forwarded-For, client-sent identity headers.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sessions } from '../../src/session/index.ts';
import { keygen } from '../../src/session/keys.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { recordFigures } from './figures.ts';
import { openRaw, rawExchange } from './raw.ts';
import { type HardenedGateway, serveWithLimits } from './serve.ts';

const LIMITS = { bodyIdleTimeoutMs: 300, requestTimeoutMs: 2_000, headersTimeoutMs: 500, maxHeaders: 100, maxHeaderBytes: 16 * 1024 };
const BODY_LIMIT = 4 * 1024;
const JSON_408 = '{"code":10015,"message":"Request timeout"}';

let upstream: TestUpstream;
let gw: HardenedGateway;
let sessions: Sessions;
const checks: string[] = [];

beforeAll(async () => {
  upstream = await startUpstream(echo('up'));
  const key = await keygen('ES256', 'k');
  gw = await serveWithLimits(
    {
      server: { bodyLimit: BODY_LIMIT },
      upstreams: { up: { targets: [{ url: upstream.url }], retries: 0 } },
      session: {
        keys: [{ kid: 'k', alg: 'ES256', privateKey: key.privateKeyPem }],
        issuer: 'https://abuse.test',
        audience: 'api',
        maxTokenBytes: 2048,
        identityHeaders: { sub: 'x-user-id', role: 'x-user-role' },
        claims: ['role'],
      },
      routes: [
        { method: ['GET', 'POST', 'PUT'], path: '/up/*', upstream: 'up' },
        { method: ['GET', 'POST'], path: '/me', upstream: 'up', auth: 'session' },
      ],
    },
    LIMITS,
  );
  sessions = (await gw.gateway.sessions())!;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await recordFigures('abuse', { checks: checks.length, names: checks });
});

/** Requests the upstream received completely, for a path. */
const reached = (path: string) => upstream.seen.filter((s) => s.url === path).length;

describe('request bodies', () => {
  it('a declared Content-Length over the limit is a 413 before any body byte is sent, and the rest is never read', async () => {
    const c = await openRaw(gw.server.port);
    c.write('POST /up/huge HTTP/1.1\r\nHost: gw\r\nContent-Type: application/octet-stream\r\nContent-Length: 50000000\r\n\r\n');
    await c.waitFor('"code":10011');
    expect(c.status()).toBe('HTTP/1.1 413 Payload Too Large');
    expect(c.received()).toContain('Connection: close');
    // The server closes instead of reading (and discarding) 50 MB: a trickle after the 413 finds it gone.
    const closedAfter = await c.closed;
    expect(closedAfter).toBeLessThan(1_000);
    expect(reached('/up/huge')).toBe(0);
    checks.push('413 on declared length, connection closed unread');
  });

  it('a chunked body is cut when it passes the limit, while the client is still sending', async () => {
    const c = await openRaw(gw.server.port);
    c.write('POST /up/chunked HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = `400\r\n${'x'.repeat(0x400)}\r\n`;
    let sent = 0;
    // 1 KiB every 20 ms, 40 KiB in all if nobody stops us; the limit is 4 KiB.
    while (sent < 40 && !c.received().includes('413')) {
      c.write(chunk);
      sent++;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(c.status()).toBe('HTTP/1.1 413 Payload Too Large');
    expect(sent).toBeLessThan(30);
    await c.closed;
    expect(reached('/up/chunked')).toBe(0);
    checks.push('413 on a streamed body at the limit');
  });

  it('a body that stalls is cut with a 408 after the body idle timeout, and the upstream never gets it whole', async () => {
    const c = await openRaw(gw.server.port);
    c.write('POST /up/stall HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\nabc');
    const at = await c.waitFor(JSON_408);
    expect(c.status()).toBe('HTTP/1.1 408 Request Timeout');
    expect(at).toBeGreaterThanOrEqual(LIMITS.bodyIdleTimeoutMs - 20);
    // Well before the whole-request timeout, which would otherwise be what cut it.
    expect(at).toBeLessThan(LIMITS.requestTimeoutMs);
    await c.closed;
    expect(reached('/up/stall')).toBe(0);
    expect(gw.errors.filter((e) => e.startsWith('unhandled'))).toEqual([]);
    checks.push('408 on a stalled body');
  });

  it('a body trickled just fast enough to dodge the idle timeout is cut by the request timeout', async () => {
    const c = await openRaw(gw.server.port);
    c.write('POST /up/trickle HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000\r\n\r\n');
    const drip = setInterval(() => c.write('a'), LIMITS.bodyIdleTimeoutMs / 3);
    try {
      const at = await c.waitFor(JSON_408, LIMITS.requestTimeoutMs * 3);
      expect(at).toBeGreaterThanOrEqual(LIMITS.requestTimeoutMs - 20);
    } finally {
      clearInterval(drip);
    }
    expect(reached('/up/trickle')).toBe(0);
    checks.push('408 on a slowloris body');
  });

  it('a body held back by a slow upstream is not mistaken for a stalled client', async () => {
    // The client sends 32 MiB at once; the upstream does not read for 3 idle periods, so the bytes wait
    // in our buffers and the kernel's. Our backpressure, not the client's stall: no 408.
    const lazy = createServer((req, res) => {
      req.pause();
      setTimeout(() => {
        let n = 0;
        req.on('data', (d: Buffer) => {
          n += d.length;
        });
        req.on('end', () => res.end(String(n)));
        req.resume();
      }, LIMITS.bodyIdleTimeoutMs * 3);
    });
    await new Promise<void>((r) => lazy.listen(0, '127.0.0.1', r));
    const g = await serveWithLimits(
      {
        server: { bodyLimit: '64mb' },
        upstreams: { s: { targets: [{ url: `http://127.0.0.1:${(lazy.address() as AddressInfo).port}` }], retries: 0 } },
        routes: [{ method: 'POST', path: '/s', upstream: 's' }],
      },
      LIMITS,
    );
    try {
      const size = 32 * 1024 * 1024;
      const res = await fetch(`${g.url}/s`, { method: 'POST', body: new Uint8Array(size) });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(String(size));
    } finally {
      await g.close();
      lazy.closeAllConnections();
      await new Promise((r) => lazy.close(r));
    }
  });
});

describe('request heads', () => {
  it('headers that never finish are cut with a 408 after the headers timeout', async () => {
    const c = await openRaw(gw.server.port);
    c.write('GET /up/slow-head HTTP/1.1\r\nHost: gw\r\n');
    const drip = setInterval(() => c.write('X-Drip: 1\r\n'), 100);
    try {
      const at = await c.waitFor(JSON_408, 3_000);
      expect(at).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 20);
    } finally {
      clearInterval(drip);
    }
    await c.closed;
    checks.push('408 on slow headers');
  });

  it('a header section over 16 KiB is a 431 with the documented body', async () => {
    const reply = await rawExchange(gw.server.port, `GET /up/x HTTP/1.1\r\nHost: gw\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
    expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(reply.endsWith('{"code":10014,"message":"Request header fields too large"}')).toBe(true);
    checks.push('431 on header bytes');
  });

  it('100 header fields pass; 101 are a 431 (Node alone would drop the extra ones silently)', async () => {
    const fields = (n: number) => Array.from({ length: n - 2 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
    const ok = await rawExchange(gw.server.port, `GET /up/count HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n${fields(100)}\r\n`);
    expect(ok.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    const over = await rawExchange(gw.server.port, `GET /up/count HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n${fields(101)}\r\n`);
    expect(over.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(over).toContain('"code":10014');
    const flood = await rawExchange(gw.server.port, `GET /up/count HTTP/1.1\r\nHost: gw\r\n${fields(3_000)}\r\n`);
    expect(flood.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    checks.push('431 on header count');
  });

  it('a token over session.maxTokenBytes is refused on its length, before any decoding', async () => {
    const { token } = await sessions.issue('u-1', { role: 'user' });
    expect((await fetch(`${gw.url}/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const padded = `${token}${'A'.repeat(2048)}`;
    const res = await fetch(`${gw.url}/me`, { headers: { authorization: `Bearer ${padded}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: 99999, message: 'Invalid credential to the service' });
    checks.push('401 on token size');
  });
});

describe('identity', () => {
  it('client-sent identity headers never reach the upstream, on public routes or private ones', async () => {
    const spoof = { 'x-user-id': 'admin', 'X-User-Role': 'root' };
    const pub = await (await fetch(`${gw.url}/up/who`, { headers: spoof })).json();
    expect(pub.headers['x-user-id']).toBeUndefined();
    expect(pub.headers['x-user-role']).toBeUndefined();
    const { token } = await sessions.issue('u-7', { role: 'user' });
    const priv = await (await fetch(`${gw.url}/me`, { headers: { ...spoof, authorization: `Bearer ${token}` } })).json();
    expect(priv.headers['x-user-id']).toBe('u-7');
    expect(priv.headers['x-user-role']).toBe('user');
    // Twice on the wire, in two spellings: still only the gateway's value.
    const raw = await rawExchange(
      gw.server.port,
      `GET /me HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nX-User-Id: admin\r\nx-user-id: root\r\nConnection: close\r\n\r\n`,
    );
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).headers['x-user-id']).toBe('u-7');
    checks.push('identity headers stripped');
  });
});

describe('trusted proxies', () => {
  const spoofed = { 'x-forwarded-for': '10.9.9.9', forwarded: 'for=10.9.9.9', 'x-real-ip': '10.9.9.9', 'true-client-ip': '10.9.9.9' };

  it('from a peer that is not a trusted proxy, X-Forwarded-For and friends are ignored and not passed on', async () => {
    const g = await serveWithLimits({
      upstreams: { up: { targets: [{ url: upstream.url }] } },
      routes: [
        { path: '/internal', upstream: 'up', ipRules: { allow: ['10.0.0.0/8'] } },
        { path: '/open', upstream: 'up', limits: [{ algorithm: 'fixed-window', limit: 3, window: '1h', key: 'ip' }] },
      ],
    });
    try {
      // The allow list sees the socket's peer (127.0.0.1), not the claimed 10.9.9.9.
      expect((await fetch(`${g.url}/internal`, { headers: spoofed })).status).toBe(403);
      // A new claimed address per request does not buy a new rate-limit quota.
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await fetch(`${g.url}/open`, { headers: { 'x-forwarded-for': `10.0.0.${i}` } })).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
      // The upstream sees only what the gateway knows: the peer, and none of the claims.
      const g2 = await serveWithLimits({
        upstreams: { up: { targets: [{ url: upstream.url }] } },
        routes: [{ path: '/who', upstream: 'up' }],
      });
      try {
        const seen = (await (await fetch(`${g2.url}/who`, { headers: spoofed })).json()).headers;
        expect(seen['x-forwarded-for']).toBe('127.0.0.1');
        expect(seen.forwarded).toBeUndefined();
        expect(seen['x-real-ip']).toBeUndefined();
        expect(seen['true-client-ip']).toBeUndefined();
      } finally {
        await g2.close();
      }
    } finally {
      await g.close();
    }
    checks.push('X-Forwarded-For ignored and dropped from untrusted peers');
  });

  it('from a trusted proxy, the right-most address it did not add is the client, and the chain goes on with the peer appended', async () => {
    const g = await serveWithLimits({
      server: { trustProxy: ['127.0.0.1'] },
      ipRules: { deny: ['203.0.113.0/24'] },
      upstreams: { up: { targets: [{ url: upstream.url }] } },
      routes: [{ path: '/who', upstream: 'up', limits: [{ algorithm: 'fixed-window', limit: 2, window: '1h', key: 'ip' }] }],
    });
    try {
      expect((await fetch(`${g.url}/who`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(403);
      // A client in front of the proxy can prepend whatever it likes; only the right-most entry counts.
      const res = await fetch(`${g.url}/who`, {
        headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.7', forwarded: 'for=198.51.100.7' },
      });
      expect(res.status).toBe(200);
      const seen = (await res.json()).headers;
      expect(seen['x-forwarded-for']).toBe('203.0.113.9, 198.51.100.7, 127.0.0.1');
      expect(seen.forwarded).toBe('for=198.51.100.7');
      expect(g.log.at(-1)?.ip).toBe('198.51.100.7');
      // Keyed by that client: a second one behind the same proxy has its own quota.
      expect((await fetch(`${g.url}/who`, { headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(200);
      expect((await fetch(`${g.url}/who`, { headers: { 'x-forwarded-for': '198.51.100.7' } })).status).toBe(429);
      expect((await fetch(`${g.url}/who`, { headers: { 'x-forwarded-for': '198.51.100.8' } })).status).toBe(200);
    } finally {
      await g.close();
    }
    checks.push('X-Forwarded-For believed from trusted proxies only');
  });
});
