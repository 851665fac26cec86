// Login, the private call's single round trip, sliding and absolute lifetime, logout, JWKS and the admin endpoint.
import { Hono } from 'hono';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { context, expectInvalid, fixture, privateCall, R, run, T0 } from './helpers.ts';

function upstreamJson(body: unknown, init: ResponseInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status: 200,
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
  });
}

const loginReply = { code: 0, message: 'success', data: { user_id: 42, role: 'editor', name: 'Ada' } };

describe('login', () => {
  it('a 2xx JSON reply with a user id creates a session and carries the token at the pointer', async () => {
    const f = await fixture();
    const res = await f.sessions.completeLogin(
      context(R.login),
      R.login,
      upstreamJson(loginReply, { headers: { 'x-upstream': 'yes', 'content-length': '999' } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-upstream')).toBe('yes');
    expect(res.headers.get('set-cookie')).toBeNull();
    const body = (await res.json()) as { data: { token: string; user_id: number; name: string } };
    expect(body.data.user_id).toBe(42);
    expect(body.data.name).toBe('Ada');
    expect(body.data.token.split('.')).toHaveLength(3);

    const ctx = await privateCall(f, { token: body.data.token });
    expect(ctx.identity?.sub).toBe('42');
    expect(ctx.identity?.claims.role).toBe('editor');
    expect(ctx.identity?.claims.name).toBeUndefined(); // only the configured claims are copied
    expect(ctx.upstreamHeaders.get('x-user-id')).toBe('42');
    expect(ctx.upstreamHeaders.get('x-user-role')).toBe('editor');
    expect(f.sessions.identityHeaderNames).toEqual(['x-user-id', 'x-user-role']);
  });

  it('the JWT carries sub, sid (>=128 bits), iat, exp, iss, aud and the kid', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    const [h, p] = s.token
      .split('.')
      .slice(0, 2)
      .map((x) => JSON.parse(atob(x.replace(/-/g, '+').replace(/_/g, '/'))));
    expect(h).toEqual({ alg: 'ES256', kid: f.key.kid, typ: 'JWT' });
    expect(p).toMatchObject({ sub: 'u1', iss: 'https://gw.example', aud: 'api', iat: T0 / 1000, exp: T0 / 1000 + 24 * 3600 });
    expect(p.sid).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(s.sid).toBe(p.sid);
    expect(s.expiresAt).toBe(T0 + 24 * 3_600_000);
    // Session ids come from the CSPRNG and do not repeat.
    const ids = new Set(await Promise.all(Array.from({ length: 50 }, async () => (await f.sessions.issue('u1')).sid)));
    expect(ids.size).toBe(50);
  });

  it('a cookie login sets HttpOnly; Secure; SameSite=Lax; Path=/ and the cookie works', async () => {
    const f = await fixture();
    const res = await f.sessions.completeLogin(context(R.loginCookie), R.loginCookie, upstreamJson({ user: { id: 'ada' } }));
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^edgegate_session=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; HttpOnly; Secure; SameSite=Lax; Max-Age=86400$/);
    expect(await res.json()).toEqual({ user: { id: 'ada' } }); // no token pointer: the body is unchanged
    const token = cookie.slice('edgegate_session='.length, cookie.indexOf(';'));
    expect((await privateCall(f, { cookie: `edgegate_session=${token}` })).identity?.sub).toBe('ada');
  });

  it('non-2xx and non-JSON replies pass through untouched and unbuffered', async () => {
    const f = await fixture();
    for (const upstream of [
      upstreamJson({ code: 10006, data: { user_id: 1 } }, { status: 401 }),
      new Response('<html>user_id</html>', { headers: { 'content-type': 'text/html' } }),
      new Response(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode('{}')) }), {
        headers: { 'content-type': 'application/octet-stream' },
      }),
    ]) {
      expect(await f.sessions.completeLogin(context(R.login), R.login, upstream)).toBe(upstream);
      expect(upstream.bodyUsed).toBe(false);
    }
    expect(f.store.batches).toHaveLength(0);
  });

  it('a reply without a user id, or with invalid JSON, creates nothing and keeps its body', async () => {
    const f = await fixture();
    for (const text of [
      JSON.stringify({ code: 0, data: {} }),
      JSON.stringify({ data: { user_id: '' } }),
      JSON.stringify({ data: { user_id: { id: 1 } } }),
      '{"data": ',
    ]) {
      const res = await f.sessions.completeLogin(
        context(R.login),
        R.login,
        new Response(text, { headers: { 'content-type': 'application/json; charset=utf-8' } }),
      );
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(text);
    }
    expect(f.store.batches).toHaveLength(0);
  });

  it('a reply where the token cannot be placed creates nothing, and says so in the log', async () => {
    const f = await fixture();
    const res = await f.sessions.completeLogin(context(R.login), R.login, upstreamJson({ data: { user_id: 1 }, extra: 1 }));
    expect((await res.json()) as object).toHaveProperty('data.token');
    const g = await fixture({}, {}, [{ path: '/login', method: 'POST', login: { userId: '/user_id', token: '/data/token' } }]);
    const blocked = await g.sessions.completeLogin(context(0), 0, upstreamJson({ user_id: 1, data: 'a string' }));
    expect(await blocked.json()).toEqual({ user_id: 1, data: 'a string' });
    expect(g.store.batches).toHaveLength(0);
    expect(g.logs).toHaveLength(1);
  });

  it('a route that is not a login route passes the reply through', async () => {
    const f = await fixture();
    const upstream = upstreamJson(loginReply);
    expect(await f.sessions.completeLogin(context(R.private), R.private, upstream)).toBe(upstream);
  });
});

describe('a private request', () => {
  it('costs one store round trip: GET record, GET revocation stamp, PEXPIRE', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    f.store.batches.length = 0;
    const ctx = context(R.private, { authorization: `Bearer ${s.token}` }, f.clock.now());
    const step = await f.sessions.authenticate(ctx, R.private);
    expect(ctx.identity?.sub).toBe('u1'); // lock 1 is done before the round trip
    expect(step?.commands).toEqual([
      { op: 'get', key: `sess:${s.sid}` },
      { op: 'get', key: 'rev:u1' },
      { op: 'pexpire', key: `sess:${s.sid}`, ttlMs: 30 * 60_000 },
    ]);
    await run(f, context(R.private, { authorization: `Bearer ${s.token}` }, f.clock.now()));
    expect(f.store.batches).toHaveLength(1);
  });

  it('public routes need no credential and no store', async () => {
    const f = await fixture();
    expect(await f.sessions.authenticate(context(R.public), R.public)).toBeUndefined();
  });

  it('the idle TTL slides on use, without re-signing', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    for (let i = 0; i < 5; i++) {
      f.clock.advance(20 * 60_000); // each step is under the 30m idle ttl; the total is well over it
      expect((await privateCall(f, { token: s.token })).identity?.sub).toBe('u1');
    }
    f.clock.advance(31 * 60_000);
    await expectInvalid(privateCall(f, { token: s.token }), s.token);
  });

  it('the slide is capped by the absolute lifetime, which ends the session however busy', async () => {
    const f = await fixture({ ttl: '30m', maxLifetime: '2h' });
    const s = await f.sessions.issue('u1');
    for (let i = 0; i < 5; i++) {
      f.clock.advance(20 * 60_000);
      await privateCall(f, { token: s.token });
    }
    f.clock.advance(10 * 60_000); // 1h50m after login, used every 20m
    const step = await f.sessions.authenticate(context(R.private, { token: s.token }, f.clock.now()), R.private);
    expect(step?.commands[2]).toEqual({ op: 'pexpire', key: `sess:${s.sid}`, ttlMs: 10 * 60_000 });
    await privateCall(f, { token: s.token });
    f.clock.advance(10 * 60_000);
    await expectInvalid(privateCall(f, { token: s.token }), s.token);
  });
});

describe('logout', () => {
  it('the logout route deletes the session in the same round trip and clears the cookie', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    f.store.batches.length = 0;
    const ctx = await run(f, context(R.logout, { token: s.token }, f.clock.now(), '/logout'));
    expect(f.store.batches).toHaveLength(1);
    expect(f.store.batches[0].at(-1)).toEqual({ op: 'del', key: `sess:${s.sid}` });
    await f.sessions.logout(ctx);
    expect(f.store.batches).toHaveLength(1); // nothing left to delete
    expect(ctx.responseHeaders.get('set-cookie')).toBe('edgegate_session=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0');
    await expectInvalid(privateCall(f, { token: s.token }), s.token);
  });

  it('logout(ctx) on another route deletes the session itself', async () => {
    const f = await fixture();
    const s = await f.sessions.issue('u1');
    const ctx = await privateCall(f, { token: s.token });
    await f.sessions.logout(ctx);
    await expectInvalid(privateCall(f, { token: s.token }), s.token);
  });

  it("logging out one session leaves the user's other sessions alone", async () => {
    const f = await fixture();
    const a = await f.sessions.issue('u1');
    const b = await f.sessions.issue('u1');
    await run(f, context(R.logout, { token: a.token }, f.clock.now(), '/logout'));
    expect((await privateCall(f, { token: b.token })).identity?.sid).toBe(b.sid);
  });
});

describe('mount: JWKS and the admin endpoint', () => {
  it('serves the public keys with kid, alg, use and cache headers, and nothing private', async () => {
    const f = await fixture();
    const app = new Hono();
    f.sessions.mount(app);
    const res = await app.request('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.headers.get('content-type')).toBe('application/jwk-set+json');
    const jwks = (await res.json()) as { keys: Record<string, string>[] };
    expect(jwks.keys).toEqual([{ ...f.key.publicJwk }]);
    expect(JSON.stringify(jwks)).not.toContain('"d"');
  });

  it("an upstream verifies the gateway's tokens with that JWKS (jose, as an upstream would)", async () => {
    const f = await fixture();
    const app = new Hono();
    f.sessions.mount(app);
    const s = await f.sessions.issue('u1');
    const served = (await (await app.request('/.well-known/jwks.json')).json()) as { keys: object[] };
    const { payload } = await jwtVerify(s.token, createLocalJWKSet(served as never), {
      issuer: 'https://gw.example',
      audience: 'api',
      currentDate: new Date(T0),
    });
    expect(payload.sub).toBe('u1');
  });

  it('is off unless jwks.enabled; the admin endpoint is off unless admin.token is set', async () => {
    const f = await fixture({ jwks: { enabled: false } });
    const app = new Hono();
    f.sessions.mount(app);
    expect((await app.request('/.well-known/jwks.json')).status).toBe(404);
    expect((await app.request('/_edgegate/sessions/revoke', { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('revokes a session or a user with the admin token, and refuses anyone else', async () => {
    const admin = 'admin-token-0123456789';
    const f = await fixture({ admin: { token: admin } });
    const app = new Hono();
    f.sessions.mount(app);
    const post = (body: unknown, token?: string) =>
      app.request('/_edgegate/sessions/revoke', {
        method: 'POST',
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });

    const a = await f.sessions.issue('u1');
    for (const token of [undefined, 'wrong', `${admin}x`, admin.slice(0, -1)]) {
      const res = await post({ sid: a.sid }, token);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: 99999, message: 'Invalid credential to the service' });
    }
    expect((await privateCall(f, { token: a.token })).identity?.sub).toBe('u1');

    const one = await post({ sid: a.sid }, admin);
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ code: 0, message: 'success', revoked: 'session', found: true });
    await expectInvalid(privateCall(f, { token: a.token }), a.token);

    const b = await f.sessions.issue('u2');
    f.clock.advance(1);
    expect(await (await post({ sub: 'u2' }, admin)).json()).toEqual({ code: 0, message: 'success', revoked: 'user' });
    await expectInvalid(privateCall(f, { token: b.token }), b.token);

    for (const bad of ['not json', {}, { sid: 'x', sub: 'y' }, { sid: 5 }]) expect((await post(bad, admin)).status).toBe(400);
  });
});
