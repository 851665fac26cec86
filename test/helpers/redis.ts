// A real Redis for integration suites: a private redis-server on a free port, or the one in REDIS_URL.
//
// Usage (top level of a test file; vitest allows top-level await):
//
//   import { redisForSuite } from '../helpers/redis.ts';
//   const redis = await redisForSuite('rate limits');      // undefined (after a loud warning) if impossible
//   describe.skipIf(!redis)('rate limits on redis', () => {
//     afterAll(() => redis?.stop());
//     it('…', () => { const store = redisStore({ url: redis!.url, timeoutMs: 1000 }); … });
//   });
//
// EDGEGATE_REQUIRE_REDIS=1 (set by .ci/run) turns "skipped" into a failure; EDGEGATE_REDIS_SERVER names
// another redis-server binary (e.g. a build of Redis 6 to test against). Keys are not flushed between
// suites: give each suite its own prefix (uniquePrefix) so it can share REDIS_URL's server.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';

export interface RedisServer {
  /** `redis://127.0.0.1:PORT` (or REDIS_URL). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** True for a private server; false for REDIS_URL's, which stop() and start() leave alone. */
  readonly restartable: boolean;
  /** Stops the private server (SIGTERM, waits for exit). Call it in afterAll. No-op for REDIS_URL. */
  stop(): Promise<void>;
  /** Starts the private server again on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** Signals the private server, e.g. SIGSTOP / SIGCONT to freeze and thaw it. Throws for REDIS_URL. */
  signal(name: NodeJS.Signals): void;
}

/** Starts a private redis-server, or connects to REDIS_URL when set. Throws with the reason if neither works. */
export async function startRedis(): Promise<RedisServer> {
  const external = process.env.REDIS_URL;
  if (external !== undefined && external !== '') return useExternal(external);
  return startPrivate();
}

/**
 * startRedis() for a test file: on failure prints a banner saying the suite is skipped and why and
 * resolves to undefined — or, with EDGEGATE_REQUIRE_REDIS=1, throws so the file fails.
 */
export async function redisForSuite(suite: string): Promise<RedisServer | undefined> {
  try {
    return await startRedis();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (process.env.EDGEGATE_REQUIRE_REDIS === '1') {
      throw new Error(`[${suite}] needs Redis and EDGEGATE_REQUIRE_REDIS=1: ${why}`);
    }
    const line = '!'.repeat(78);
    console.warn(
      `\n${line}\n!! SKIPPED: "${suite}" needs a real Redis and none is available.\n!! Reason: ${why}\n` +
        '!! Install redis-server (apt-get install redis-server) or set REDIS_URL=redis://host:port.\n' +
        `!! Set EDGEGATE_REQUIRE_REDIS=1 to make this a failure (CI does).\n${line}\n`,
    );
    return undefined;
  }
}

/** A key prefix unique to one suite run, e.g. `t:contract:3f9a1c:`. */
export function uniquePrefix(name: string): string {
  return `t:${name}:${randomBytes(3).toString('hex')}:`;
}

/** A plain ioredis client for test set-up and inspection (SCRIPT FLUSH, INFO); quit it in afterAll. */
export function adminClient(server: Pick<RedisServer, 'url'>): Redis {
  return new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 50, 500), lazyConnect: false });
}

async function useExternal(url: string): Promise<RedisServer> {
  const parsed = new URL(url);
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new Error(`REDIS_URL=${redact(parsed)} does not answer PING: ${(err as Error).message}`);
  } finally {
    client.disconnect();
  }
  return {
    url,
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    restartable: false,
    async stop() {},
    async start() {},
    signal() {
      throw new Error('cannot signal the REDIS_URL server; check `restartable` first');
    },
  };
}

function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  return copy.href;
}

async function startPrivate(): Promise<RedisServer> {
  let lastError: unknown;
  // A free port can be taken between probing and binding; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      let child = await launch(port);
      return {
        url: `redis://127.0.0.1:${port}`,
        host: '127.0.0.1',
        port,
        restartable: true,
        async stop() {
          await terminate(child);
        },
        async start() {
          if (child.exitCode === null && child.signalCode === null) return;
          child = await launch(port);
        },
        signal(name) {
          child.kill(name);
        },
      };
    } catch (err) {
      lastError = err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function launch(port: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'];
  const child = spawn(process.env.EDGEGATE_REDIS_SERVER ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  child.stdout?.on('data', (d) => {
    output = (output + d).slice(-2_000);
  });
  child.stderr?.on('data', (d) => {
    output = (output + d).slice(-2_000);
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      const e = new Error(
        err.code === 'ENOENT'
          ? `${process.env.EDGEGATE_REDIS_SERVER ?? 'redis-server'} not found (not on PATH?)`
          : `redis-server failed to start: ${err.message}`,
      ) as NodeJS.ErrnoException;
      e.code = err.code;
      fail(e);
    });
    child.once('exit', (code, signal) => fail(new Error(`redis-server exited (${code ?? signal}) before answering: ${output.trim()}`)));
    const deadline = Date.now() + 5_000;
    const poll = async () => {
      while (!settled && Date.now() < deadline) {
        if (await ping(port)) {
          settled = true;
          return resolve(child);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      fail(new Error(`redis-server on port ${port} did not answer PING within 5 s: ${output.trim()}`));
    };
    void poll();
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/** One PING over a raw socket: true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
