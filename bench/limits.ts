// Throughput of rate limiting on the memory store, side by side in one process: the limiter alone
// (step + batch + apply) and whole requests through createGateway, for a route with no limit, 1 and 2.
//
//   npx tsx bench/limits.ts              # N=200000 limiter calls and N/4 gateway requests per case
//   N=1000000 npx tsx bench/limits.ts
//
// Identities rotate over a pool of 10 000 IPs with limits high enough that nobody is denied, so this
// measures the admitted path (the denied path from the deny cache makes no store call at all).
// Redis numbers come from bench/store-latency.ts for now: one EVALSHA per limited request.
import { loadavg } from 'node:os';
import type { RequestContext } from '../src/context.ts';
import { createGateway } from '../src/gateway.ts';
import { createLimiter, type RouteLimiter } from '../src/limits/limiter.ts';
import { type LimitInput, limitSchema } from '../src/limits/schema.ts';
import { memoryStore } from '../src/store/memory.ts';

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
async function throughGateway(n: number): Promise<number[]> {
  const upstream = async () => new Response('ok');
  let i = 0;
  const gateway = createGateway(
    {
      server: { accessLog: false },
      upstreams: { app: { targets: [{ url: 'http://127.0.0.1:9' }], retries: 0 } },
      routes: cases.map((c, r) => ({ path: `/r${r}`, upstream: 'app', limits: c.limits })),
    },
    { fetch: upstream as typeof fetch, clientIp: () => ips[i++ % POOL], logError: () => {} },
  );
  await gateway.ready;
  const times = cases.map(() => 0);
  const one = async (r: number, count: number) => {
    const url = `http://bench.test/r${r}`;
    for (let k = 0; k < count; k++) {
      const res = await gateway.fetch(new Request(url));
      if (res.status !== 200) throw new Error(`bench: ${url} answered ${res.status}`);
      await res.text();
    }
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
