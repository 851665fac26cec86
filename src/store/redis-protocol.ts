// What the two Redis-backed stores share: how a store Command becomes a Redis command, how its reply
// becomes the CommandResult the memory store gives, how failures map to StoreError, and the deadline.
// The TCP store (adapters/node/redis-store.ts) and the Upstash store (upstash.ts) only move bytes.
import { StoreError } from '../errors.ts';
import { type Command, defineScript, type Script } from './store.ts';

/**
 * INCRBY that sets the TTL only when this call creates the key, exactly as the memory store does.
 * `PEXPIRE … NX` is not the same: it would also give a TTL to an existing key that has none.
 * KEYS[1] counter · ARGV[1] increment · ARGV[2] TTL in ms (0 or less deletes, like PEXPIRE).
 */
export const incrbyWithTtl: Script<number> = defineScript(
  'incrby-ttl',
  `local key, by, ttl = KEYS[1], ARGV[1], ARGV[2]
local created = redis.call('EXISTS', key) == 0
local n = redis.call('INCRBY', key, by)
if created then redis.call('PEXPIRE', key, ttl) end
return n`,
  (data, [key], [by, ttl]) => {
    const current = data.get(key);
    const next = (current === null ? 0 : parseInteger(current)) + Number(by);
    if (current === null) data.set(key, String(next), Number(ttl));
    else data.set(key, String(next), keepTtl(data.pttl(key)));
    return next;
  },
);

function keepTtl(pttl: number): number | undefined {
  return pttl < 0 ? undefined : pttl;
}

/** Redis's own integer rule for INCRBY: optional minus, no leading zeros, no spaces, 64-bit. */
export function parseInteger(value: string): number {
  if (!/^(0|-?[1-9]\d{0,18})$/.test(value)) throw new Error('ERR value is not an integer or out of range');
  return Number(value);
}

/** TTLs go to Redis as whole milliseconds, rounded up so a key never lives shorter than asked. */
export function wholeMs(ms: number): number {
  return Math.ceil(ms);
}

/** One store command in Redis terms: the command to send and how to read its reply. */
export interface RedisCall {
  /** Lower-case command name followed by its arguments. */
  readonly argv: readonly [string, ...(string | number)[]];
  /** Turns the raw reply into the store's result for this op. */
  readonly read: (reply: unknown) => unknown;
  /** For scripts: its SHA-1 and the EVAL to send when Redis answers NOSCRIPT to the EVALSHA. */
  readonly script?: { readonly sha1: string; readonly eval: readonly [string, ...(string | number)[]] };
}

/**
 * The scripts one store has seen Redis run, by SHA-1. The first use of a script in a store goes out as
 * EVAL (which also caches it in Redis), later ones as EVALSHA. Starting with EVALSHA would cost the
 * first batch a NOSCRIPT and a resend — and the resent script would run after the batch's other
 * commands, so a read after it in the same batch would not see its effect.
 */
export type ScriptCache = Set<string>;

const same = (reply: unknown) => reply;
const toBool = (reply: unknown) => reply === 1 || reply === 'OK';
const alwaysTrue = () => true;
const isZero = (reply: unknown) => reply === 0;

/**
 * Translates a batch. Async only because a script's SHA-1 is computed lazily (once per script).
 * `set` and `incrby` with a TTL of 0 or less behave like the memory store: the key ends up absent.
 */
export async function toRedisCalls(commands: readonly Command[], loaded: ScriptCache): Promise<RedisCall[]> {
  const calls: RedisCall[] = [];
  for (const c of commands) {
    switch (c.op) {
      case 'get':
        calls.push({ argv: ['get', c.key], read: same });
        break;
      case 'set':
        if (c.ttlMs !== undefined && c.ttlMs <= 0) {
          // Written and expired at once: with NX it "succeeds" only when the key was absent.
          calls.push(c.nx ? { argv: ['exists', c.key], read: isZero } : { argv: ['del', c.key], read: alwaysTrue });
        } else {
          const argv: [string, ...(string | number)[]] = ['set', c.key, c.value];
          if (c.ttlMs !== undefined) argv.push('px', wholeMs(c.ttlMs));
          if (c.nx) argv.push('nx');
          calls.push({ argv, read: toBool });
        }
        break;
      case 'del':
        calls.push({ argv: ['del', c.key], read: same });
        break;
      case 'pexpire':
        calls.push({ argv: ['pexpire', c.key, wholeMs(c.ttlMs)], read: toBool });
        break;
      case 'pttl':
        calls.push({ argv: ['pttl', c.key], read: same });
        break;
      case 'incrby':
        if (c.ttlMs === undefined) calls.push({ argv: ['incrby', c.key, c.by], read: same });
        else calls.push(await scriptCall(loaded, incrbyWithTtl, [c.key], [String(c.by), String(wholeMs(c.ttlMs))]));
        break;
      case 'eval':
        calls.push(await scriptCall(loaded, c.script, c.keys, c.args));
        break;
    }
  }
  return calls;
}

async function scriptCall(loaded: ScriptCache, script: Script, keys: readonly string[], args: readonly string[]): Promise<RedisCall> {
  const sha1 = await script.sha1;
  const tail = [keys.length, ...keys, ...args];
  const evalArgv: [string, ...(string | number)[]] = ['eval', script.lua, ...tail];
  return { argv: loaded.has(sha1) ? ['evalsha', sha1, ...tail] : evalArgv, read: same, script: { sha1, eval: evalArgv } };
}

/** The reply of one call: its value or the error Redis gave for it. */
export type Reply = { ok: true; value: unknown } | { ok: false; message: string };

export function isNoScript(reply: Reply): boolean {
  return !reply.ok && reply.message.startsWith('NOSCRIPT');
}

/** Redis replies that mean "not now" rather than "wrong": the server is loading, busy or failing over. */
const TRANSIENT = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

/**
 * Runs a batch through `send` (one round trip per call of `send`), resends only the EVALSHA calls
 * that got NOSCRIPT as EVAL (a second round trip, rare: after SCRIPT FLUSH, a restart or a fail-over;
 * those scripts then run after the batch's other commands), and returns the results in order.
 * A command error fails the whole batch after every command ran, as the memory store does.
 */
export async function runCalls(
  backend: string,
  calls: readonly RedisCall[],
  loaded: ScriptCache,
  send: (argvs: readonly (readonly (string | number)[])[]) => Promise<Reply[]>,
): Promise<unknown[]> {
  const replies = await send(calls.map((c) => c.argv));
  const missing: number[] = [];
  for (let i = 0; i < calls.length; i++) {
    const script = calls[i].script;
    if (script === undefined) continue;
    if (isNoScript(replies[i])) {
      loaded.delete(script.sha1);
      missing.push(i);
    } else loaded.add(script.sha1);
  }
  if (missing.length > 0) {
    const retried = await send(missing.map((i) => (calls[i].script as NonNullable<RedisCall['script']>).eval));
    missing.forEach((i, n) => {
      replies[i] = retried[n];
      if (retried[n].ok) loaded.add((calls[i].script as NonNullable<RedisCall['script']>).sha1);
    });
  }
  return replies.map((reply, i) => {
    if (!reply.ok) {
      const op = calls[i].argv[0];
      throw new StoreError(TRANSIENT.test(reply.message) ? 'unavailable' : 'error', `${backend}: ${op} failed: ${reply.message}`);
    }
    return calls[i].read(reply.value);
  });
}

/**
 * Runs `work` with an AbortSignal and settles within `ms` whatever happens inside: on expiry the
 * signal aborts and the promise rejects with StoreError('timeout'). Never leaves a timer behind.
 * Anything else `work` throws reaches the caller as a StoreError too, as the Store interface promises.
 */
export function withDeadline<T>(backend: string, ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new StoreError('timeout', `${backend}: no answer within ${ms} ms`);
      controller.abort(error);
      reject(error);
    }, ms);
  });
  const running = work(controller.signal).catch((err: unknown) => {
    if (err instanceof StoreError) throw err;
    throw new StoreError('error', `${backend}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  });
  return Promise.race([running, expired]).finally(() => clearTimeout(timer));
}
