// How routes use sessions (checked at start-up), and the small pure helpers: pointers, header values.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.ts';
import { headerValue, readToken } from '../../src/session/credentials.ts';
import { createSessions } from '../../src/session/index.ts';
import { getPointer, setPointer } from '../../src/session/pointer.ts';
import { sessionSchema } from '../../src/session/schema.ts';
import { memoryStore } from '../../src/store/memory.ts';
import { context, routes, testKey } from './helpers.ts';

const deps = { store: memoryStore(), now: () => 0, fetch: globalThis.fetch };

describe('routes and the session config', () => {
  it('a gateway without sessions: public routes need nothing and nothing is mounted', async () => {
    const s = await createSessions(undefined, routes([{ path: '/a', upstream: 'x' }]), deps);
    expect(await s.authenticate(context(0), 0)).toBeUndefined();
    expect(s.identityHeaderNames).toEqual([]);
  });

  it('names every route that needs what the config lacks', async () => {
    const list = routes([
      { path: '/a', upstream: 'x', auth: 'session' },
      { path: '/b', upstream: 'x', auth: 'jwt' },
      { path: '/c', upstream: 'x', login: { userId: '/id', cookie: true } },
      { path: '/d', upstream: 'x', logout: true },
    ]);
    await expect(createSessions(undefined, list, deps)).rejects.toThrow(ConfigError);
    try {
      await createSessions(undefined, list, deps);
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        'routes[0].auth: "session" needs session.keys (generate one with `edgegate keygen`)',
        'routes[1].auth: "jwt" needs session.remoteJwks',
        'routes[2].login: needs a session key with a privateKey to sign tokens',
        'routes[2].login.cookie: needs session.token.cookie (the cookie name)',
        'routes[3].logout: needs auth "session", to know which session to end',
      ]);
    }
    const k = await testKey('ES256');
    const verifyOnly = sessionSchema.parse({ keys: [{ kid: 'v', alg: 'ES256', publicKey: k.publicKeyPem }], issuer: 'i', audience: 'a' });
    await expect(
      createSessions(verifyOnly, routes([{ path: '/c', upstream: 'x', login: { userId: '/id', token: '/token' } }]), deps),
    ).rejects.toThrow(/routes\[0\]\.login: needs a session key with a privateKey/);
  });

  it('a login route must give the token somewhere', () => {
    const r = routes([{ path: '/l', upstream: 'x', auth: 'public' }]);
    expect(r[0].login).toBeUndefined();
    expect(() => routes([{ path: '/l', upstream: 'x', login: { userId: '/id' } }])).toThrow(/token pointer or cookie/);
    expect(() => routes([{ path: '/l', upstream: 'x', login: { userId: 'data.id', token: '/t' } }])).toThrow(/JSON pointer/);
  });
});

describe('JSON pointers (RFC 6901)', () => {
  const doc = { data: { user_id: 7, 'a/b': 1, 'm~n': 2, list: [10, 20] } };
  it('reads own members, escapes and array indexes', () => {
    expect(getPointer(doc, '/data/user_id')).toBe(7);
    expect(getPointer(doc, '/data/a~1b')).toBe(1);
    expect(getPointer(doc, '/data/m~0n')).toBe(2);
    expect(getPointer(doc, '/data/list/1')).toBe(20);
    expect(getPointer(doc, '/data/list/01')).toBeUndefined();
    expect(getPointer(doc, '/data/missing/x')).toBeUndefined();
    expect(getPointer(doc, '/data/__proto__')).toBeUndefined();
    expect(getPointer(doc, '/data/toString')).toBeUndefined();
  });
  it('writes, creating objects on the way, and refuses blocked or poisonous paths', () => {
    const d: Record<string, unknown> = { data: { user_id: 1 }, s: 'x' };
    expect(setPointer(d, '/data/token', 't')).toBe(true);
    expect(setPointer(d, '/auth/session/token', 't')).toBe(true);
    expect(d).toEqual({ data: { user_id: 1, token: 't' }, s: 'x', auth: { session: { token: 't' } } });
    expect(setPointer(d, '/s/token', 't')).toBe(false);
    expect(setPointer(d, '/__proto__/polluted', 't')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(setPointer([1], '/0', 't')).toBe(false);
  });
});

describe('credentials and identity header values', () => {
  it('the Bearer scheme is case-insensitive; bearer can be switched off', () => {
    expect(readToken(new Headers({ authorization: 'bearer a.b.c' }), { bearer: true })).toBe('a.b.c');
    expect(() => readToken(new Headers({ authorization: 'Bearer a.b.c' }), { bearer: false, header: 'token' })).toThrow(
      'Invalid credential',
    );
  });
  it('claims become safe header values', () => {
    expect(headerValue('ada')).toBe('ada');
    expect(headerValue(42)).toBe('42');
    expect(headerValue(['a', 'b'])).toBe('["a","b"]');
    expect(headerValue('Zoë')).toBe('Zo%C3%AB');
    expect(headerValue('a\r\nx-admin: 1')).toBe('a%0D%0Ax-admin%3A%201');
    expect(headerValue(undefined)).toBeUndefined();
  });
});
