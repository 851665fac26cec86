// The REST bridge speaks the protocol @upstash/redis expects: tested through the stock client (its own
// HTTP client, base64 on and off) and with raw fetch for what the client does not show.
import { Redis as UpstashRedis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisRest, startRedisRest } from '../../adapters/node/redis-rest.ts';
import { redisForSuite, uniquePrefix } from '../helpers/redis.ts';

const redis = await redisForSuite('redis REST bridge');
const TOKEN = 'bridge-token-5c2a9f';

describe.skipIf(!redis)('redis REST bridge', () => {
  let bridge: RedisRest;
  const p = uniquePrefix('bridge');
  const k = (s: string) => `${p}${s}`;

  const call = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${bridge.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, ...headers },
      body: typeof body === 'string' || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');

  beforeAll(async () => {
    bridge = await startRedisRest({ redis: redis!.url, token: TOKEN, maxBodyBytes: 4 * 1024 * 1024 });
  });
  afterAll(async () => {
    await bridge?.close();
    await redis?.stop();
  });

  for (const responseEncoding of ['base64', false] as const) {
    it(`serves the stock @upstash/redis client (responseEncoding: ${String(responseEncoding)})`, async () => {
      const client = new UpstashRedis({ url: bridge.url, token: TOKEN, responseEncoding, retry: false, enableTelemetry: false });
      const text = 'héllo ✓ 日本語 🎉';
      expect(await client.set(k(`s:${responseEncoding}`), text)).toBe('OK');
      expect(await client.get(k(`s:${responseEncoding}`))).toBe(text);
      expect(await client.incrby(k(`n:${responseEncoding}`), 5)).toBe(5);
      expect(await client.get(k(`missing:${responseEncoding}`))).toBeNull();
      const piped = await client
        .pipeline()
        .set(k(`p:${responseEncoding}`), 'x')
        .incr(k(`p:${responseEncoding}`))
        .get(k(`p:${responseEncoding}`))
        .exec({ keepErrors: true });
      expect(piped[0]).toEqual({ result: 'OK', error: undefined });
      expect(piped[1].error).toMatch(/not an integer/);
      expect(piped[2].result).toBe('x');
      expect(
        await client
          .multi()
          .set(k(`m:${responseEncoding}`), 'y')
          .get(k(`m:${responseEncoding}`))
          .exec(),
      ).toEqual(['OK', 'y']);
      const lua = `return {KEYS[1], ARGV[1], 42}`;
      const sha = await client.scriptLoad(lua);
      expect(await client.evalsha(sha, [k('key')], ['arg'])).toEqual([k('key'), 'arg', 42]);
      expect(await client.eval(lua, [k('key')], ['ü'])).toEqual([k('key'), 'ü', 42]);
      await expect(client.evalsha('0'.repeat(40), [], [])).rejects.toThrow(/NOSCRIPT/);
      await client.hset(k(`h:${responseEncoding}`), { a: '1', b: 'zwei' });
      expect(await client.hgetall(k(`h:${responseEncoding}`))).toEqual({ a: 1, b: 'zwei' });
    });
  }

  it('encodes every string but OK in base64 when asked, nested arrays included', async () => {
    expect(await call('/', ['SET', k('e'), 'OK'], { 'upstash-encoding': 'base64' })).toEqual({ status: 200, body: { result: 'OK' } });
    // A stored "OK" goes out as OK too (the bridge cannot tell it from the status reply); clients read both alike.
    expect(await call('/', ['GET', k('e')], { 'upstash-encoding': 'base64' })).toEqual({ status: 200, body: { result: 'OK' } });
    await call('/', ['HSET', k('h'), 'f', 'wert']);
    expect(await call('/', ['hgetall', k('h')], { 'upstash-encoding': 'base64' })).toEqual({
      status: 200,
      body: { result: [b64('f'), b64('wert')] },
    });
    expect(await call('/', ['PING'], { 'upstash-encoding': 'base64' })).toEqual({ status: 200, body: { result: b64('PONG') } });
    expect(await call('/', ['INCR', k('i')], { 'upstash-encoding': 'base64' })).toEqual({ status: 200, body: { result: 1 } });
    await call('/', ['RPUSH', k('l'), 'a', 'ß']);
    expect(await call('/', ['LRANGE', k('l'), 0, -1], { 'upstash-encoding': 'base64' })).toEqual({
      status: 200,
      body: { result: [b64('a'), b64('ß')] },
    });
    expect(
      await call(
        '/pipeline',
        [
          ['GET', k('nothing')],
          ['LRANGE', k('l'), 0, 0],
          ['INCR', k('l')],
        ],
        { 'upstash-encoding': 'base64' },
      ),
    ).toEqual({
      status: 200,
      body: [{ result: null }, { result: [b64('a')] }, { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' }],
    });
  });

  it('round-trips arbitrary bytes: raw body in through the path form, base64 out', async () => {
    const bytes = new Uint8Array(256 + 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
    bytes.set([0xff, 0xfe, 0x00], 256);
    expect(await call(`/set/${encodeURIComponent(k('bin'))}`, bytes)).toEqual({ status: 200, body: { result: 'OK' } });
    const out = await call('/', ['GET', k('bin')], { 'upstash-encoding': 'base64' });
    expect(Buffer.from((out.body as { result: string }).result, 'base64').equals(Buffer.from(bytes))).toBe(true);
    expect(await call('/', ['STRLEN', k('bin')])).toEqual({ status: 200, body: { result: bytes.length } });
    // Without base64 the reply is JSON text: invalid UTF-8 becomes U+FFFD, as Upstash documents.
    const lossy = (await call('/', ['GETRANGE', k('bin'), 255, 256])).body as { result: string };
    expect(lossy.result).toBe('\ufffd\ufffd');
  });

  it('takes the path form with GET, query arguments and URL-encoded segments', async () => {
    const key = encodeURIComponent(k('path/ü'));
    const get = async (path: string) => {
      const res = await fetch(`${bridge.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, body: await res.json() };
    };
    expect(await get(`/set/${key}/v%20w`)).toEqual({ status: 200, body: { result: 'OK' } });
    expect(await get(`/get/${key}`)).toEqual({ status: 200, body: { result: 'v w' } });
    expect(await call(`/set/${key}?PX=60000`, 'body value')).toEqual({ status: 200, body: { result: 'OK' } });
    const ttl = (await get(`/pttl/${key}`)).body as { result: number };
    expect(ttl.result).toBeGreaterThan(50_000);
  });

  it('answers errors as { error } with the documented statuses', async () => {
    expect(await call('/', ['NOSUCHCOMMAND', 'x'])).toEqual({
      status: 400,
      body: { error: expect.stringMatching(/^ERR unknown command/) },
    });
    expect((await call('/', '{not json')).status).toBe(400);
    expect((await call('/', [])).status).toBe(400);
    expect((await call('/', ['SET', k('x'), { nested: true }])).status).toBe(400);
    expect((await call('/pipeline', [['GET', k('x')], 'GET'])).status).toBe(400);
    // Commands that would block or re-state the shared connection are refused.
    for (const cmd of [['SUBSCRIBE', 'c'], ['BLPOP', k('q'), 0], ['SELECT', 1], ['MULTI'], ['XREAD', 'BLOCK', 0, 'STREAMS', k('s'), '$']]) {
      const r = await call('/', cmd);
      expect(r.status, String(cmd[0])).toBe(400);
      expect((r.body as { error: string }).error).toMatch(/not allowed/);
    }
    // A transaction with a syntax error is discarded as a whole.
    const tx = await call('/multi-exec', [
      ['SET', k('tx')],
      ['GET', k('tx')],
    ]);
    expect(tx.status).toBe(400);
    expect((tx.body as { error: string }).error).toMatch(/^EXECABORT/);
    expect(
      await call('/multi-exec', [
        ['SET', k('tx'), '1'],
        ['INCR', k('tx')],
        ['LPOP', k('tx')],
      ]),
    ).toEqual({
      status: 200,
      body: [{ result: 'OK' }, { result: 2 }, { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' }],
    });
    expect((await call('/', ['GET', 'x'], { 'upstash-response-format': 'resp2' })).status).toBe(400);
    const del = await fetch(bridge.url, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(del.status).toBe(405);
    await del.body?.cancel();
    expect((await call('/', ['SET', k('big'), 'x'.repeat(5 * 1024 * 1024)])).status).toBe(413);
  });
});
