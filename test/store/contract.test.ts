// One contract, three backends: memory (fake clock), Redis over TCP, and Upstash REST through the
// bridge (the real @upstash/redis client → adapters/node/redis-rest.ts → a real redis-server).
// Same inputs, same results; the last block compares whole transcripts against memory's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisRest, startRedisRest } from '../../adapters/node/redis-rest.ts';
import { redisStore } from '../../adapters/node/redis-store.ts';
import { StoreError } from '../../src/errors.ts';
import { memoryStore } from '../../src/store/memory.ts';
import { type Command, defineScript, get, runScript, type Store, set } from '../../src/store/store.ts';
import { upstashStore } from '../../src/store/upstash.ts';
import { adminClient, redisForSuite, uniquePrefix } from '../helpers/redis.ts';

const redis = await redisForSuite('store contract (redis tcp, upstash via bridge)');
const admin = redis ? adminClient(redis) : undefined;

/** Real-clock TTLs for Redis: short enough to keep the suite fast, long enough not to flake. */
const TTL = 100;
const PAST_TTL = 160;

interface Backend {
  store: Store;
  /** `n` independent clients on the same data (memory: the same store — it is one process). */
  clients(n: number): Store[];
  /** Moves time forward: the fake clock for memory, a real wait for Redis. */
  advance(ms: number): Promise<void>;
  /** SCRIPT FLUSH; a no-op for memory, which has no script cache. */
  flushScripts(): Promise<void>;
  /** EVAL / EVALSHA calls Redis has served so far; undefined for memory. */
  scriptCalls(): Promise<{ eval: number; evalsha: number } | undefined>;
  close(): Promise<void>;
}

// Generous: this suite checks results, not latency (faults.test.ts does timeouts), and CI machines are shared.
const TIMEOUT_MS = 10_000;
const BRIDGE_TOKEN = 'contract-token-0123456789';

async function redisScriptCalls(): Promise<{ eval: number; evalsha: number }> {
  const info = (await admin!.info('commandstats')) as string;
  const calls = (name: string) => {
    const m = new RegExp(`^cmdstat_${name}:calls=(\\d+)(?:.*failed_calls=(\\d+))?`, 'm').exec(info);
    return m ? Number(m[1]) : 0;
  };
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

const backends: { name: string; needsRedis: boolean; make: () => Promise<Backend> }[] = [
  {
    name: 'memory',
    needsRedis: false,
    make: async () => {
      let now = 1_700_000_000_000;
      const store = memoryStore({ now: () => now });
      return {
        store,
        clients: (n) => Array.from({ length: n }, () => store),
        advance: async (ms) => {
          now += ms;
        },
        flushScripts: async () => {},
        scriptCalls: async () => undefined,
        close: () => store.close(),
      };
    },
  },
  {
    name: 'redis tcp',
    needsRedis: true,
    make: async () => {
      const open: Store[] = [];
      const connect = () => {
        const s = redisStore({ url: redis!.url, timeoutMs: TIMEOUT_MS });
        open.push(s);
        return s;
      };
      return {
        store: connect(),
        clients: (n) => Array.from({ length: n }, connect),
        advance: (ms) => new Promise((r) => setTimeout(r, ms)),
        flushScripts: async () => void (await admin!.script('FLUSH')),
        scriptCalls: redisScriptCalls,
        close: async () => void (await Promise.all(open.map((s) => s.close()))),
      };
    },
  },
  {
    name: 'upstash via bridge',
    needsRedis: true,
    make: async () => {
      const bridge: RedisRest = await startRedisRest({ redis: redis!.url, token: BRIDGE_TOKEN });
      const open: Store[] = [];
      const connect = () => {
        const s = upstashStore({ url: bridge.url, token: BRIDGE_TOKEN, timeoutMs: TIMEOUT_MS });
        open.push(s);
        return s;
      };
      return {
        store: connect(),
        clients: (n) => Array.from({ length: n }, connect),
        advance: (ms) => new Promise((r) => setTimeout(r, ms)),
        flushScripts: async () => void (await admin!.script('FLUSH')),
        scriptCalls: redisScriptCalls,
        close: async () => {
          await Promise.all(open.map((s) => s.close()));
          await bridge.close();
        },
      };
    },
  },
];

/**
 * A fixed-window counter: the kind of script the limits use. Lua and its twin must agree, including
 * Redis's conversions (numbers to integers, `false` to null inside a table).
 */
const windowCounter = defineScript<[number, string, string | null, null]>(
  'test-window-counter',
  `-- KEYS[1] counter · ARGV[1] limit · ARGV[2] window in ms
local key, limit, window = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local n = redis.call('INCR', key)
if n == 1 then redis.call('PEXPIRE', key, window) end
local verdict = n <= limit and 'allow' or 'deny'
return { n, verdict, redis.call('GET', key), false }`,
  (data, [key], [limit, window]) => {
    const n = Number(data.get(key) ?? '0') + 1;
    const pttl = data.pttl(key);
    data.set(key, String(n), n === 1 ? Number(window) : pttl > 0 ? pttl : undefined);
    return [n, n <= Number(limit) ? 'allow' : 'deny', String(n), null];
  },
);

/** Returns a missing key's value (nil → null) and an error for a negative argument. */
const echoScript = defineScript<string | null>(
  'test-echo',
  `if tonumber(ARGV[1]) < 0 then return redis.error_reply('ERR negative') end
return redis.call('GET', KEYS[1])`,
  (data, [key], [n]) => {
    if (Number(n) < 0) throw new Error('ERR negative');
    return data.get(key);
  },
);

/** Results with timing-dependent TTLs reduced to their class, so backends can be compared. */
type Transcript = unknown[];
const transcripts = new Map<string, Transcript>();

const VALUES = [
  'plain',
  '',
  'OK',
  'null',
  '123',
  '{"json":true,"n":[1,2]}',
  'héllo wörld ✓ 日本語 🎉 👩‍👩‍👧',
  '\u0000nul\r\n\ttabs "quotes" \\ back',
  // Every code point from U+0000 to U+00FF: bytes that are not valid UTF-8 on their own.
  Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join(''),
  'RTL \u202e and zero-width \u200b\ufeff',
];

for (const { name, needsRedis, make } of backends) {
  describe.skipIf(needsRedis && !redis)(`store contract: ${name}`, () => {
    let b: Backend;
    const p = uniquePrefix(name.replace(/\W+/g, '-'));
    const k = (s: string) => `${p}${s}`;

    beforeAll(async () => {
      b = await make();
    });
    afterAll(async () => {
      await b?.close();
    });

    it('reports missing keys the Redis way', async () => {
      const results = await b.store.batch([
        { op: 'get', key: k('missing') },
        { op: 'pttl', key: k('missing') },
        { op: 'del', key: k('missing') },
        { op: 'pexpire', key: k('missing'), ttlMs: 1000 },
      ] as const);
      expect(results).toEqual([null, -2, 0, false]);
    });

    it('sets and gets without a TTL', async () => {
      expect(await set(b.store, k('plain'), 'v1')).toBe(true);
      const [value, ttl] = await b.store.batch([
        { op: 'get', key: k('plain') },
        { op: 'pttl', key: k('plain') },
      ] as const);
      expect(value).toBe('v1');
      expect(ttl).toBe(-1);
    });

    it('expires a key set with a TTL', async () => {
      const [ok, value, ttl] = await b.store.batch([
        { op: 'set', key: k('ttl'), value: 'soon gone', ttlMs: TTL },
        { op: 'get', key: k('ttl') },
        { op: 'pttl', key: k('ttl') },
      ] as const);
      expect([ok, value]).toEqual([true, 'soon gone']);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(TTL);
      await b.advance(PAST_TTL);
      expect(
        await b.store.batch([
          { op: 'get', key: k('ttl') },
          { op: 'pttl', key: k('ttl') },
        ] as const),
      ).toEqual([null, -2]);
    });

    it('SET replaces the value and clears the TTL; a TTL of 0 or less leaves no key', async () => {
      await set(b.store, k('replace'), 'a', 10_000);
      const results = await b.store.batch([
        { op: 'set', key: k('replace'), value: 'b' },
        { op: 'pttl', key: k('replace') },
        { op: 'set', key: k('gone'), value: 'x', ttlMs: 0 },
        { op: 'get', key: k('gone') },
        { op: 'set', key: k('replace'), value: 'c', ttlMs: -5, nx: true },
        { op: 'get', key: k('replace') },
      ] as const);
      expect(results).toEqual([true, -1, true, null, false, 'b']);
    });

    it('SET NX writes only when the key is absent', async () => {
      const results = await b.store.batch([
        { op: 'set', key: k('nx'), value: 'first', nx: true },
        { op: 'set', key: k('nx'), value: 'second', nx: true },
        { op: 'get', key: k('nx') },
        { op: 'del', key: k('nx') },
        { op: 'del', key: k('nx') },
        { op: 'set', key: k('nx'), value: 'third', nx: true, ttlMs: 10_000 },
        { op: 'get', key: k('nx') },
      ] as const);
      expect(results).toEqual([true, false, 'first', 1, 0, true, 'third']);
    });

    it('PEXPIRE sets a new TTL on existing keys and deletes with 0 or less', async () => {
      await set(b.store, k('px'), 'v');
      await set(b.store, k('px0'), 'v');
      const [a, ttl, c, value] = await b.store.batch([
        { op: 'pexpire', key: k('px'), ttlMs: TTL },
        { op: 'pttl', key: k('px') },
        { op: 'pexpire', key: k('px0'), ttlMs: 0 },
        { op: 'get', key: k('px0') },
      ] as const);
      expect([a, c, value]).toEqual([true, true, null]);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(TTL);
      await b.advance(PAST_TTL);
      expect(await get(b.store, k('px'))).toBeNull();
    });

    it('INCRBY counts, and its TTL applies only when it creates the key', async () => {
      const first = await b.store.batch([
        { op: 'incrby', key: k('n'), by: 5, ttlMs: TTL },
        { op: 'incrby', key: k('n'), by: -2, ttlMs: 60_000 },
        { op: 'pttl', key: k('n') },
        { op: 'get', key: k('n') },
      ] as const);
      expect(first[0]).toBe(5);
      expect(first[1]).toBe(3);
      expect(first[2]).toBeGreaterThan(0);
      expect(first[2]).toBeLessThanOrEqual(TTL);
      expect(first[3]).toBe('3');
      await b.advance(PAST_TTL);
      // Expired: the next INCRBY creates it again, with a fresh TTL.
      const [again, ttl] = await b.store.batch([
        { op: 'incrby', key: k('n'), by: 1, ttlMs: 60_000 },
        { op: 'pttl', key: k('n') },
      ] as const);
      expect(again).toBe(1);
      expect(ttl).toBeGreaterThan(TTL);
      // An existing key without a TTL does not get one (PEXPIRE NX would add it: this is why a script).
      await set(b.store, k('forever'), '10');
      expect(
        await b.store.batch([
          { op: 'incrby', key: k('forever'), by: 1, ttlMs: TTL },
          { op: 'pttl', key: k('forever') },
          { op: 'incrby', key: k('plainincr'), by: 7 },
          { op: 'pttl', key: k('plainincr') },
        ] as const),
      ).toEqual([11, -1, 7, -1]);
    });

    it('fails a batch with StoreError after running every command, like a pipeline', async () => {
      await set(b.store, k('text'), 'not a number');
      for (const bad of ['not a number', '', ' 1', '1e3', '01', '1.5']) {
        await set(b.store, k('text'), bad);
        const err = await b.store.batch([{ op: 'incrby', key: k('text'), by: 1 }] as const).catch((e) => e);
        expect(err, JSON.stringify(bad)).toBeInstanceOf(StoreError);
        expect((err as StoreError).reason).toBe('error');
      }
      const err = await b.store
        .batch([
          { op: 'set', key: k('before'), value: '1' },
          { op: 'incrby', key: k('text'), by: 1 },
          { op: 'set', key: k('after'), value: '2' },
        ] as const)
        .catch((e) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(
        await b.store.batch([
          { op: 'get', key: k('before') },
          { op: 'get', key: k('after') },
        ] as const),
      ).toEqual(['1', '2']);
    });

    it('runs a batch of many commands in order', async () => {
      const commands: Command[] = [];
      for (let i = 0; i < 20; i++) {
        commands.push({ op: 'set', key: k(`many:${i}`), value: `v${i}` }, { op: 'incrby', key: k('many:count'), by: i });
      }
      for (let i = 0; i < 20; i++) commands.push({ op: 'get', key: k(`many:${i}`) });
      const results = await b.store.batch(commands);
      expect(results).toHaveLength(60);
      expect(results.slice(40)).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
      expect(results[39]).toBe((19 * 20) / 2);
      expect(await b.store.batch([])).toEqual([]);
    });

    it('keeps unicode and binary-ish values and keys intact', async () => {
      const commands: Command[] = VALUES.map((value, i) => ({ op: 'set', key: k(`u:${i}:ключ:🔑`), value }));
      await b.store.batch(commands);
      const back = await b.store.batch(VALUES.map((_, i) => ({ op: 'get', key: k(`u:${i}:ключ:🔑`) }) as const));
      expect(back).toEqual(VALUES);
    });

    it('stores a 1 MiB value', async () => {
      const big = `${'x'.repeat(1024 * 1024 - 16)}✓日本🎉end`;
      await set(b.store, k('big'), big);
      const back = await get(b.store, k('big'));
      expect(back?.length).toBe(big.length);
      expect(back === big).toBe(true);
    });

    it('runs a defineScript script, Lua and twin agreeing', async () => {
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await runScript(b.store, windowCounter, [k('win')], ['3', '60000']));
      expect(results).toEqual([
        [1, 'allow', '1', null],
        [2, 'allow', '2', null],
        [3, 'allow', '3', null],
        [4, 'deny', '4', null],
      ]);
      const ttl = await b.store.batch([{ op: 'pttl', key: k('win') }] as const);
      expect(ttl[0]).toBeGreaterThan(0);
      expect(ttl[0]).toBeLessThanOrEqual(60_000);
      expect(await runScript(b.store, echoScript, [k('nothing')], ['1'])).toBeNull();
      await set(b.store, k('something'), 'héllo');
      expect(await runScript(b.store, echoScript, [k('something')], ['1'])).toBe('héllo');
      const err = await runScript(b.store, echoScript, [k('something')], ['-1']).catch((e) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).reason).toBe('error');
      expect((err as StoreError).message).toContain('negative');
    });

    it('uses EVALSHA, and after SCRIPT FLUSH resends only the NOSCRIPT commands as EVAL', async () => {
      await runScript(b.store, windowCounter, [k('warm')], ['10', '60000']);
      const before = await b.scriptCalls();
      const warm = await b.store.batch([
        { op: 'eval', script: windowCounter, keys: [k('warm')], args: ['10', '60000'] },
        { op: 'eval', script: windowCounter, keys: [k('warm')], args: ['10', '60000'] },
      ] as const);
      expect(warm).toEqual([
        [2, 'allow', '2', null],
        [3, 'allow', '3', null],
      ]);
      const afterWarm = await b.scriptCalls();
      if (before && afterWarm) {
        expect(afterWarm.evalsha - before.evalsha).toBe(2);
        expect(afterWarm.eval - before.eval).toBe(0);
      }

      await b.flushScripts();
      const results = await b.store.batch([
        { op: 'incrby', key: k('side'), by: 1 },
        { op: 'eval', script: windowCounter, keys: [k('warm')], args: ['10', '60000'] },
        { op: 'get', key: k('side') },
        { op: 'incrby', key: k('side-ttl'), by: 1, ttlMs: 60_000 },
      ] as const);
      expect(results).toEqual([1, [4, 'allow', '4', null], '1', 1]);
      // The plain commands ran once: nothing but the scripts was resent.
      expect(
        await b.store.batch([
          { op: 'get', key: k('side') },
          { op: 'get', key: k('side-ttl') },
        ] as const),
      ).toEqual(['1', '1']);
      const afterFlush = await b.scriptCalls();
      if (afterWarm && afterFlush) {
        // windowCounter and the INCRBY-with-TTL script: each tried as EVALSHA, then once as EVAL.
        expect(afterFlush.eval - afterWarm.eval).toBe(2);
      }
      // Loaded again by EVAL: the next call is a plain EVALSHA.
      await runScript(b.store, windowCounter, [k('warm')], ['10', '60000']);
      const last = await b.scriptCalls();
      if (afterFlush && last) expect(last.eval - afterFlush.eval).toBe(0);
    });

    it('gives exact totals for concurrent increments from many clients', async () => {
      // Each client works like a gateway process: a few requests in flight at a time, all clients at once.
      const clients = b.clients(12);
      const perClient = 40;
      const inFlight = 4;
      await Promise.all(
        clients.flatMap((c) =>
          Array.from({ length: inFlight }, async (_, lane) => {
            for (let i = lane; i < perClient; i += inFlight) {
              await c.batch([
                { op: 'incrby', key: k('concurrent'), by: 1 },
                { op: 'incrby', key: k('concurrent-ttl'), by: 2, ttlMs: 60_000 },
                { op: 'eval', script: windowCounter, keys: [k('concurrent-script')], args: ['1000000', '60000'] },
                { op: 'get', key: k(`noise:${i % 5}`) },
              ] as const);
            }
          }),
        ),
      );
      const total = clients.length * perClient;
      const [a, c, d, ttl] = await b.store.batch([
        { op: 'get', key: k('concurrent') },
        { op: 'get', key: k('concurrent-ttl') },
        { op: 'get', key: k('concurrent-script') },
        { op: 'pttl', key: k('concurrent-ttl') },
      ] as const);
      expect([a, c, d]).toEqual([String(total), String(2 * total), String(total)]);
      expect(ttl).toBeGreaterThan(0);
    });

    it('records a transcript for the cross-backend comparison', async () => {
      const t: Transcript = [];
      const cls = (v: unknown) => (typeof v === 'number' && v > 0 && v !== Math.trunc(v) ? 'fraction' : v);
      const run = async (commands: Command[]) => t.push((await b.store.batch(commands)).map(cls));
      const ttlClass = async (key: string) => {
        const [ttl] = await b.store.batch([{ op: 'pttl', key }] as const);
        t.push(ttl > 0 ? 'ttl>0' : ttl);
      };
      await run([
        { op: 'get', key: k('tx:a') },
        { op: 'set', key: k('tx:a'), value: '1', nx: true },
        { op: 'set', key: k('tx:a'), value: '2', nx: true },
        { op: 'incrby', key: k('tx:a'), by: 41 },
        { op: 'get', key: k('tx:a') },
        { op: 'del', key: k('tx:a') },
        { op: 'del', key: k('tx:a') },
        { op: 'pexpire', key: k('tx:a'), ttlMs: 1000 },
        { op: 'pttl', key: k('tx:a') },
      ]);
      await run([
        { op: 'incrby', key: k('tx:c'), by: 3, ttlMs: TTL },
        { op: 'eval', script: windowCounter, keys: [k('tx:w')], args: ['1', String(TTL)] },
        { op: 'eval', script: windowCounter, keys: [k('tx:w')], args: ['1', String(TTL)] },
        { op: 'eval', script: echoScript, keys: [k('tx:c')], args: ['0'] },
        { op: 'set', key: k('tx:s'), value: VALUES[8], ttlMs: TTL },
      ]);
      await ttlClass(k('tx:c'));
      await ttlClass(k('tx:w'));
      await b.advance(PAST_TTL);
      await run([
        { op: 'get', key: k('tx:c') },
        { op: 'get', key: k('tx:s') },
        { op: 'eval', script: windowCounter, keys: [k('tx:w')], args: ['1', String(TTL)] },
        { op: 'pttl', key: k('tx:nothing') },
      ]);
      transcripts.set(name, t);
      expect(t.length).toBe(5);
    });
  });
}

describe('store contract: same inputs, same results', () => {
  it('every backend that ran produced the memory transcript', () => {
    const reference = transcripts.get('memory');
    expect(reference).toBeDefined();
    for (const [name, transcript] of transcripts) expect(transcript, name).toEqual(reference);
    if (redis) expect([...transcripts.keys()]).toEqual(['memory', 'redis tcp', 'upstash via bridge']);
  });

  afterAll(async () => {
    await admin?.quit();
    await redis?.stop();
  });
});
