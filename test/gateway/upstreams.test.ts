// Balancing, retries and passive health through the gateway, against real upstreams.
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../helpers/gateway.ts';
import { deadPort, echo, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function upstream(handler = echo('u')): Promise<TestUpstream> {
  const u = await startUpstream(handler);
  open.push(u);
  return u;
}

async function gateway(config: Parameters<typeof startGateway>[0]): Promise<RunningGateway> {
  const g = await startGateway(config);
  open.push(g);
  return g;
}

const status =
  (code: number) =>
  (_req: unknown, res: ServerResponse): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code }));
  };

describe('weighted balancing', () => {
  it('spreads requests 10/2/2/4 within statistical bounds', async () => {
    const targets = await Promise.all(['1', '2', '3', '4'].map((n) => upstream(echo(n))));
    const weights = [10, 2, 2, 4];
    const gw = await gateway({
      upstreams: { user: { targets: targets.map((t, i) => ({ url: t.url, weight: weights[i] })) } },
      routes: [{ path: '/p', upstream: 'user' }],
    });
    const n = 1200;
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => fetch(`${gw.url}/p`).then((r) => r.arrayBuffer())));
    }
    targets.forEach((t, i) => {
      const p = weights[i] / 18; // 10/18, 2/18, 2/18, 4/18
      const sd = Math.sqrt(n * p * (1 - p));
      expect(Math.abs(t.seen.length - n * p)).toBeLessThan(5 * sd);
    });
  });
});

describe('retries', () => {
  it('retries an idempotent request once on a different target after a 503', async () => {
    const bad = await upstream(status(503));
    const good = await upstream(echo('good'));
    const gw = await gateway({
      upstreams: { u: { targets: [{ url: bad.url }, { url: good.url }], balancer: 'round-robin', health: { failures: 1000 } } },
      routes: [{ method: ['GET', 'POST'], path: '/r', upstream: 'u' }],
    });
    for (let i = 0; i < 10; i++) expect((await fetch(`${gw.url}/r`)).status).toBe(200);
    expect(bad.seen.length).toBeGreaterThan(0);
    expect(good.seen.length).toBe(10);
  });

  it('retries after a refused connection, and never a non-idempotent POST', async () => {
    const good = await upstream(echo('good'));
    const gw = await gateway({
      upstreams: {
        u: {
          targets: [{ url: `http://127.0.0.1:${await deadPort()}` }, { url: good.url }],
          balancer: 'round-robin',
          health: { failures: 1000 },
        },
      },
      routes: [{ method: ['GET', 'POST'], path: '/r', upstream: 'u' }],
    });
    const gets = await Promise.all(Array.from({ length: 10 }, () => fetch(`${gw.url}/r`).then((r) => r.status)));
    expect(gets.every((s) => s === 200)).toBe(true);
    const posts = [];
    for (let i = 0; i < 10; i++) posts.push((await fetch(`${gw.url}/r`, { method: 'POST', body: 'x' })).status);
    expect(posts).toContain(502);
    expect(posts).toContain(200);
    // A POST with an Idempotency-Key may be retried.
    for (let i = 0; i < 6; i++) {
      expect((await fetch(`${gw.url}/r`, { method: 'POST', body: 'x', headers: { 'idempotency-key': `k${i}` } })).status).toBe(200);
    }
  });

  it('stops retrying when the retry budget is spent', async () => {
    const a = await upstream(status(503));
    const b = await upstream(status(503));
    const gw = await gateway({
      upstreams: { u: { targets: [{ url: a.url }, { url: b.url }], retryBudget: 0, health: { failures: 1000 } } },
      routes: [{ path: '/r', upstream: 'u' }],
    });
    const n = 100;
    for (let i = 0; i < n; i++) expect((await fetch(`${gw.url}/r`)).status).toBe(503);
    // With a zero ratio only the floor of 3 retries/s (30 per 10 s window) is allowed.
    const retries = a.seen.length + b.seen.length - n;
    expect(retries).toBeGreaterThan(0);
    expect(retries).toBeLessThanOrEqual(30);
  });
});

describe('passive health', () => {
  it('ejects a target after consecutive failures and brings it back after the cool-down', async () => {
    let failing = true;
    const flaky = await upstream((req, res) => (failing ? status(502)(req, res) : echo('flaky')(req, res, '')));
    const good = await upstream(echo('good'));
    const gw = await gateway({
      upstreams: {
        u: {
          targets: [{ url: flaky.url }, { url: good.url }],
          balancer: 'round-robin',
          retries: 0,
          health: { failures: 2, cooldown: '400ms' },
        },
      },
      routes: [{ path: '/h', upstream: 'u' }],
    });
    for (let i = 0; i < 8; i++) await fetch(`${gw.url}/h`);
    expect(flaky.seen.length).toBe(2); // ejected after its second failure
    const before = flaky.seen.length;
    for (let i = 0; i < 10; i++) expect((await fetch(`${gw.url}/h`)).status).toBe(200);
    expect(flaky.seen.length).toBe(before);
    failing = false;
    await new Promise((r) => setTimeout(r, 450));
    for (let i = 0; i < 10; i++) expect((await fetch(`${gw.url}/h`)).status).toBe(200);
    expect(flaky.seen.length).toBeGreaterThan(before);
  });

  it('never ejects the last healthy target', async () => {
    const only = await upstream(status(502));
    const gw = await gateway({
      upstreams: { u: { targets: [{ url: only.url }], health: { failures: 1 } } },
      routes: [{ path: '/h', upstream: 'u' }],
    });
    for (let i = 0; i < 5; i++) expect((await fetch(`${gw.url}/h`)).status).toBe(502);
    expect(only.seen.length).toBe(5);
  });
});

describe('ip rules', () => {
  it('403 for a denied client, globally and per route', async () => {
    const u = await upstream();
    const denied = await gateway({
      ipRules: { deny: ['127.0.0.0/8'] },
      upstreams: { u: { targets: [{ url: u.url }] } },
      routes: [{ path: '/x', upstream: 'u' }],
    });
    const res = await fetch(`${denied.url}/x`);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ code: 10010, message: 'Forbidden' });
    const perRoute = await gateway({
      upstreams: { u: { targets: [{ url: u.url }] } },
      routes: [
        { path: '/admin', upstream: 'u', ipRules: { allow: ['10.0.0.0/8'] } },
        { path: '/open', upstream: 'u' },
      ],
    });
    expect((await fetch(`${perRoute.url}/admin`)).status).toBe(403);
    expect((await fetch(`${perRoute.url}/open`)).status).toBe(200);
  });

  it('believes X-Forwarded-For only from trusted proxies', async () => {
    const u = await upstream();
    const trusting = await gateway({
      server: { trustProxy: ['127.0.0.1'] },
      ipRules: { deny: ['203.0.113.0/24'] },
      upstreams: { u: { targets: [{ url: u.url }] } },
      routes: [{ path: '/x', upstream: 'u' }],
    });
    expect((await fetch(`${trusting.url}/x`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(403);
    expect((await fetch(`${trusting.url}/x`, { headers: { 'x-forwarded-for': '198.51.100.1' } })).status).toBe(200);
    const untrusting = await gateway({
      ipRules: { deny: ['203.0.113.0/24'] },
      upstreams: { u: { targets: [{ url: u.url }] } },
      routes: [{ path: '/x', upstream: 'u' }],
    });
    expect((await fetch(`${untrusting.url}/x`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(200);
  });
});
