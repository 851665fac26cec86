// How long one store round trip takes on each backend: a batch of GET + PEXPIRE + one script (EVALSHA),
// the shape of a request's single stateful step. Starts its own redis-server (or uses REDIS_URL) and
// runs the REST bridge in a child process, as it would run in production.
//
//   npx tsx bench/store-latency.ts            # N=2000 sequential round trips per backend
//   N=5000 npx tsx bench/store-latency.ts
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { redisStore } from '../adapters/node/redis-store.ts';
import { memoryStore } from '../src/store/memory.ts';
import { type Command, defineScript, type Store } from '../src/store/store.ts';
import { upstashStore } from '../src/store/upstash.ts';
import { adminClient, startRedis } from '../test/helpers/redis.ts';

const N = Number(process.env.N ?? 2000);
const WARMUP = 200;
const TOKEN = 'bench-token-3b7f0e';

const counter = defineScript<number>(
  'bench-counter',
  `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`,
  (data, [key], [window]) => {
    const n = Number(data.get(key) ?? '0') + 1;
    const ttl = data.pttl(key);
    data.set(key, String(n), n === 1 ? Number(window) : ttl > 0 ? ttl : undefined);
    return n;
  },
);

const roundTrip: Command[] = [
  { op: 'get', key: 'bench:session' },
  { op: 'pexpire', key: 'bench:session', ttlMs: 60_000 },
  { op: 'eval', script: counter, keys: ['bench:limit'], args: ['60000'] },
];

async function measure(store: Store): Promise<number[]> {
  await store.batch([{ op: 'set', key: 'bench:session', value: 'x'.repeat(200) }]);
  for (let i = 0; i < WARMUP; i++) await store.batch(roundTrip);
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const start = performance.now();
    await store.batch(roundTrip);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

/** Starts the bridge in its own Node process; resolves to its URL and a stop function. */
async function startBridgeProcess(redisUrl: string): Promise<{ url: string; stop(): void }> {
  const module = fileURLToPath(new URL('../adapters/node/redis-rest.ts', import.meta.url));
  const code = `import { startRedisRest } from ${JSON.stringify(module)};
const bridge = await startRedisRest({ redis: ${JSON.stringify(redisUrl)}, token: ${JSON.stringify(TOKEN)} });
console.log(bridge.url);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bridge exited with ${code}`)));
    child.stdout.once('data', (d) => resolve(String(d).trim()));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (v: number) => `${v < 0.1 ? v.toFixed(4) : v.toFixed(3)} ms`;

const redis = await startRedis();
const admin = adminClient(redis);
const version = ((await admin.info('server')) as string).match(/redis_version:(\S+)/)?.[1] ?? '?';
await admin.quit();
const bridge = await startBridgeProcess(redis.url);

const backends: [string, Store][] = [
  ['memory', memoryStore()],
  ['redis tcp (ioredis)', redisStore({ url: redis.url, timeoutMs: 2_000 })],
  ['upstash via bridge', upstashStore({ url: bridge.url, token: TOKEN, timeoutMs: 2_000 })],
];

console.log(`store round trip: GET + PEXPIRE + EVALSHA in one batch, N=${N} sequential (after ${WARMUP} warm-up)`);
console.log(`node ${process.version}, redis ${version} on loopback, load average ${loadavg()[0].toFixed(2)}\n`);
console.log(`${'backend'.padEnd(22)}${'median'.padStart(12)}${'p99'.padStart(12)}${'mean'.padStart(12)}`);
try {
  for (const [name, store] of backends) {
    const t = await measure(store);
    const mean = t.reduce((a, b) => a + b, 0) / t.length;
    console.log(`${name.padEnd(22)}${ms(pct(t, 50)).padStart(12)}${ms(pct(t, 99)).padStart(12)}${ms(mean).padStart(12)}`);
    await store.close();
  }
} finally {
  bridge.stop();
  await redis.stop();
}
