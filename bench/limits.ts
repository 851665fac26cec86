// Throughput of rate limiting on the memory store, side by side in one process: the limiter alone
// (step + batch + apply) and whole requests through createGateway, for a route with no limit, 1 and 2.
//
//   npx tsx bench/limits.ts              # N=200000 limiter calls and N/4 gateway requests per case
//   N=1000000 npx tsx bench/limits.ts
//
// Identities rotate over a pool of 10 000 IPs with limits high enough that nobody is denied, so this
// measures the admitted path (the denied path from the deny cache makes no store call at all).
// Then the same whole-request comparison on a real Redis (a private redis-server on a free port,
// over the Node TCP store), with 32 requests in flight, and Redis commands per request read from
// INFO commandstats.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { redisStore } from '../adapters/node/redis-store.ts';
import type { RequestContext } from '../src/context.ts';
import { createGateway } from '../src/gateway.ts';
import { createLimiter, type RouteLimiter } from '../src/limits/limiter.ts';
import { type LimitInput, limitSchema } from '../src/limits/schema.ts';
import { memoryStore } from '../src/store/memory.ts';
import type { Store } from '../src/store/store.ts';

const N = Number(process.env.N ?? 200_000);
const POOL = 10_000;
const ips = Array.from({ length: POOL }, (_, i) => `10.0.${i >> 8}.${i & 255}`);

const cases: { name: string; limits: LimitInput[] }[] = [
  { name: 'no limit', limits: [] },
  { name: '1 limit (fixed window)', limits: [{ algorithm: 'fixed-window', limit: 1_000_000, window: '60s', key: 'ip' }] },
  {
    name: '2 limits (gcra + sliding)',
    limits: [
      { algorithm: 'gcra', limit: 10_000, window: '1s', key: 'ip' },
      { algorithm: 'sliding-window', limit: 1_000_000, window: '1h', key: 'ip' },
    ],
  },
];

function rate(ops: number, ms: number): string {
  return `${Math.round((ops / ms) * 1000)
    .toLocaleString('en-US')
    .padStart(11)} /s  ${((ms * 1e6) / ops).toFixed(0).padStart(6)} ns/op`;
}

/** The limiter alone: what a limited request adds to the gateway's work on the memory store. */
async function limiterOnly(limits: LimitInput[], n: number): Promise<number> {
  const store = memoryStore({ maxEntries: 100_000 });
  const limiter = createLimiter(
    { routes: [{ method: 'GET', path: '/', limits: limits.map((l) => limitSchema.parse(l)) }] },
    { now: Date.now },
  );
  const route: RouteLimiter | undefined = limiter.forRoute(0);
  const request = new Request('http://bench.test/');
  const responseHeaders = new Headers(); // the gateway allocates one per request anyway
  const run = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const ctx = { request, params: {}, ip: ips[i % POOL], responseHeaders } as unknown as RequestContext;
      if (route === undefined) continue;
      const step = route.step(ctx);
      await step.apply(await store.batch(step.commands));
    }
  };
  await run(Math.min(n, 20_000)); // warm-up
  const start = performance.now();
  await run(n);
  const ms = performance.now() - start;
  if (limiter.stats.denied > 0) throw new Error('bench: a request was denied; raise the limits');
  return ms;
}

/** Whole requests through the gateway, with an in-process upstream that answers at once. */
async function throughGateway(n: number, store?: Store, inFlight = 1): Promise<number[]> {
  const upstream = async () => new Response('ok');
  let i = 0;
  const gateway = createGateway(
    {
      server: { accessLog: false },
      upstreams: { app: { targets: [{ url: 'http://127.0.0.1:9' }], retries: 0 } },
      routes: cases.map((c, r) => ({ path: `/r${r}`, upstream: 'app', limits: c.limits })),
    },
    { fetch: upstream as typeof fetch, clientIp: () => ips[i++ % POOL], logError: () => {}, store },
  );
  await gateway.ready;
  const times = cases.map(() => 0);
  const one = async (r: number, count: number) => {
    const url = `http://bench.test/r${r}`;
    const worker = async (share: number) => {
      for (let k = 0; k < share; k++) {
        const res = await gateway.fetch(new Request(url));
        if (res.status !== 200) throw new Error(`bench: ${url} answered ${res.status}`);
        await res.text();
      }
    };
    await Promise.all(Array.from({ length: inFlight }, () => worker(Math.ceil(count / inFlight))));
  };
  for (let r = 0; r < cases.length; r++) await one(r, Math.min(n, 5_000)); // warm-up
  // Interleaved rounds, so JIT warm-up and machine noise fall on every case alike.
  const ROUNDS = 10;
  for (let round = 0; round < ROUNDS; round++) {
    for (let r = 0; r < cases.length; r++) {
      const start = performance.now();
      await one(r, Math.ceil(n / ROUNDS));
      times[r] += performance.now() - start;
    }
  }
  await gateway.close();
  return times;
}

const [load] = loadavg();
console.log(`edgegate limits bench · node ${process.version} · load ${load.toFixed(2)} · N=${N}\n`);
console.log('limiter step + memory batch + apply');
const base: number[] = [];
for (const c of cases) {
  const ms = await limiterOnly(c.limits, N);
  base.push(ms);
  console.log(`  ${c.name.padEnd(28)} ${c.limits.length === 0 ? '   (nothing to do)' : rate(N, ms)}`);
}

const g = Math.max(1, Math.floor(N / 4));
console.log(`\nwhole requests through createGateway (memory store, in-process upstream), N=${g}`);
const times = await throughGateway(g);
cases.forEach((c, r) => {
  const relative = ((times[0] / times[r]) * 100).toFixed(0);
  console.log(`  ${c.name.padEnd(28)} ${rate(Math.ceil(g / 10) * 10, times[r])}  ${relative.padStart(4)}% of unlimited`);
});

// --- Redis: the same comparison over the Node TCP store -------------------------------------------
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function commandstats(client: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await client.info('commandstats')).split('\n')) {
    const m = /^cmdstat_(\w+):calls=(\d+)/.exec(line.trim());
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

const port = await freePort();
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
});
const ok = await new Promise<boolean>((resolve) => {
  server.once('error', () => resolve(false));
  const admin = new Redis({ port, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  const t = setInterval(async () => {
    try {
      await admin.connect().catch(() => {});
      if ((await admin.ping()) === 'PONG') {
        clearInterval(t);
        admin.disconnect();
        resolve(true);
      }
    } catch {}
  }, 50);
  setTimeout(() => {
    clearInterval(t);
    admin.disconnect();
    resolve(false);
  }, 5_000);
});
if (!ok) {
  console.log('\nredis-server is not available: Redis comparison skipped (apt-get install redis-server).');
} else {
  const admin = new Redis({ port });
  const store = redisStore({ url: `redis://127.0.0.1:${port}`, timeoutMs: 2_000 });
  const gr = Math.max(1, Math.floor(N / 20));
  const before = await commandstats(admin);
  const redisTimes = await throughGateway(gr, store, 32);
  const after = await commandstats(admin);
  console.log(`\nwhole requests through createGateway (Redis TCP store, 32 in flight), N=${gr}`);
  cases.forEach((c, r) => {
    const relative = ((redisTimes[0] / redisTimes[r]) * 100).toFixed(0);
    console.log(`  ${c.name.padEnd(28)} ${rate(Math.ceil(gr / 10) * 10, redisTimes[r])}  ${relative.padStart(4)}% of unlimited`);
  });
  const limited = Math.ceil(Math.min(gr, 5_000) / 32) * 32 + Math.ceil(Math.ceil(gr / 10) / 32) * 32 * 10;
  const delta = Object.entries(after)
    .map(([cmd, calls]) => [cmd, calls - (before[cmd] ?? 0)] as const)
    .filter(([cmd, d]) => d > 0 && cmd !== 'info');
  // evalsha/eval are the round trips; get, set and time are the calls the script makes inside Redis.
  console.log(`  Redis commands (INFO commandstats) over the ${2 * limited} limited requests (warm-up included;`);
  console.log('  evalsha/eval are round trips, get/set/time run inside the script):');
  for (const [cmd, d] of delta)
    console.log(`    ${cmd.padEnd(10)} ${String(d).padStart(8)}  (${(d / (2 * limited)).toFixed(2)} per limited request)`);
  await store.close();
  admin.disconnect();
}
server.kill();
