// `npm run bench`: edgegate against nginx and fast-gateway on the same routes and upstreams, its own
// scenarios (params, sessions + limits on memory, Redis and Upstash-through-bridge, a denied client,
// Deno), scale (routes, rate-limit keys), start-up and bundle size; writes bench/RESULTS.md.
//
//   npm run bench                      # ~6 min: 5 s × 3 rounds per contender after a 2 s warm-up
//   npm run bench -- --quick           # ~2 min: 2 s × 2 rounds, 1 s warm-up (for iteration)
//   BENCH_DURATION=10 BENCH_ROUNDS=5 npm run bench    # longer
//   BENCH_LOADGEN=autocannon npm run bench            # autocannon even when wrk is installed
//
// Every contender is its own process, pinned to core 1 (taskset, where it exists); the load generator,
// the upstreams, Redis and the REST bridge share core 0. When core 0 saturates first, requests/s is
// only a floor, and the contender's CPU time per request (from /proc) is the fair comparison.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { keygen } from '../src/session/keys.ts';
import {
  type Contender,
  edgegateConfig,
  HAS_DENO,
  NGINX_BIN,
  PUBLIC_PATH,
  type StoreConfig,
  startDeno,
  startEdgegate,
  startFastGateway,
  startNginx,
  UPSTREAM_PATH,
  writeConfig,
} from './lib/contenders.ts';
import { LOADGEN_NAME, ROOT, runKeyedLoad, runLoad, WRK } from './lib/load.ts';
import { freePort, HAS_PROC, hasCommand, type Proc, runToEnd, startProcess, TASKSET } from './lib/procs.ts';
import { fmtInt, fmtMs, fmtSpreadInt, fmtUs, fmtX, type Member, type Round, ratio, runGroup, type Spread, spread } from './lib/rounds.ts';
import { expectStatus, login, startUpstreams } from './lib/setup.ts';

const QUICK = process.argv.includes('--quick');
const DURATION = Number(process.env.BENCH_DURATION ?? (QUICK ? 2 : 5));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 2 : 3));
const WARMUP = Number(process.env.BENCH_WARMUP ?? (QUICK ? 1 : 2));
const LATENCY_DURATION = QUICK ? 2 : 3;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const LOAD_CORE = TASKSET ? 0 : undefined;
const CONTENDER_CORE = TASKSET ? 1 : undefined;
const REDIS_TOKEN = 'bench-bridge-token-7f3a9c';
const KEYS_SMALL = 10;
const KEYS_LARGE = 100_000;

const log = (line: string) => process.stdout.write(`${line}\n`);
const started = Date.now();
const loadStart = loadavg();
const notes: string[] = [];

const tmp = mkdtempSync(join(tmpdir(), 'edgegate-bench-'));
const procs: Proc[] = [];
const cleanups: (() => Promise<void>)[] = [];
let admin: Redis | undefined;

function version(cmd: string, args: string[], pattern: RegExp): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error !== undefined) return undefined;
  return `${r.stdout}${r.stderr}`.match(pattern)?.[1];
}

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'adapters'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    return dirty === '' ? sha : `${sha} (src/adapters modified)`;
  } catch {
    return 'unknown';
  }
}

/** A load run against `path` on a contender, as a group member. */
function member(label: string, c: Contender, path: string, headers?: Record<string, string>, extra?: Partial<Member>): Member {
  return {
    label,
    pid: c.proc.pid,
    run: (d) => runLoad({ url: `${c.url}${path}`, connections: CONNECTIONS, durationS: d, headers, core: LOAD_CORE }),
    ...extra,
  };
}

/** Redis counters for store round trips: commands by name, and read events (one per pipeline received). */
async function redisCounters(): Promise<Record<string, number>> {
  if (admin === undefined) return {};
  const out: Record<string, number> = {};
  const stats = (await admin.info('commandstats')) as string;
  let total = 0;
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] === 'info') continue;
    out[`cmd:${m[1]}`] = Number(m[2]);
    total += Number(m[2]);
  }
  out.commands = total;
  const reads = ((await admin.info('stats')) as string).match(/^total_reads_processed:(\d+)/m);
  // Minus this INFO call's own read.
  out.reads = reads === null ? Number.NaN : Number(reads[1]);
  return out;
}

/** Store round trips per request with one request at a time (no pipelines can share a read). */
async function sequentialReads(url: string, headers: Record<string, string>, n: number): Promise<number> {
  if (admin === undefined) return Number.NaN;
  for (let i = 0; i < 20; i++) await (await request(url, { headers })).body.dump();
  const before = await redisCounters();
  for (let i = 0; i < n; i++) await (await request(url, { headers })).body.dump();
  const after = await redisCounters();
  // The second redisCounters() call makes two reads of its own (two INFO commands), the first one one more.
  return (after.reads - before.reads - 2) / n;
}

const med = (rounds: Round[] | undefined, f: (r: Round) => number): number => spread((rounds ?? []).map(f)).median;
const spr = (rounds: Round[] | undefined, f: (r: Round) => number): Spread => spread((rounds ?? []).map(f));
const pairRatio = (a: Round[] | undefined, b: Round[] | undefined, f: (r: Round) => number): Spread =>
  a === undefined || b === undefined ? spread([]) : ratio(a.map(f), b.map(f));

function table(head: string[], rows: string[][]): string {
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<string> {
  log(`edgegate bench${QUICK ? ' (quick)' : ''}: ${DURATION} s × ${ROUNDS} rounds, ${WARMUP} s warm-up, ${LOADGEN_NAME} c=${CONNECTIONS}`);
  if (!TASKSET)
    notes.push('taskset is not installed: processes are not pinned to cores, so the contenders share CPUs with the load generator.');
  if (!HAS_PROC) notes.push('/proc is not readable: CPU time per request is not measured.');
  if (!WRK)
    notes.push(
      `wrk is not installed${process.env.BENCH_LOADGEN === 'autocannon' ? ' or was set aside' : ''}: autocannon is the load generator (heavier, so requests/s saturate earlier).`,
    );
  log(`load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);

  // Upstreams, keys, configs.
  const upstreams = await startUpstreams(LOAD_CORE);
  procs.push(upstreams.proc);
  const key = await keygen('ES256', 'bench');
  const configFor = (store: StoreConfig, routes: number) =>
    edgegateConfig({ ports: upstreams.ports, store, routes, privateKeyPem: key.privateKeyPem });
  const memory: StoreConfig = { type: 'memory', maxEntries: 1_000_000 };

  // Redis and the REST bridge (core 0, with the load generator).
  let redisUrl: string | undefined;
  let bridgeUrl: string | undefined;
  if (hasCommand('redis-server', ['--version'])) {
    const port = await freePort();
    const { proc } = await startProcess(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
      { name: 'redis-server', core: LOAD_CORE, ready: /Ready to accept connections/ },
    );
    procs.push(proc);
    redisUrl = `redis://127.0.0.1:${port}`;
    admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    cleanups.push(async () => void admin?.disconnect());
    const bridge = await startProcess(
      process.execPath,
      [join(ROOT, 'adapters/node/bin.js'), 'redis-rest', '--redis', redisUrl, '--token', REDIS_TOKEN, '--port', '0', '--host', '127.0.0.1'],
      { name: 'redis-rest bridge', core: LOAD_CORE, cwd: ROOT, ready: /redis-rest listening on (http:\/\/\S+)/ },
    );
    procs.push(bridge.proc);
    bridgeUrl = bridge.match[1];
  } else
    notes.push('redis-server is not installed: the Redis and Upstash-through-bridge scenarios are skipped (apt-get install redis-server).');

  // Contenders.
  const start = async <T extends Contender>(p: Promise<T>): Promise<T> => {
    const c = await p;
    procs.push(c.proc);
    return c;
  };
  const fg = await start(startFastGateway(upstreams.ports, CONTENDER_CORE));
  const nginx = NGINX_BIN !== undefined ? await start(startNginx(join(tmp, 'nginx'), upstreams.ports, CONTENDER_CORE)) : undefined;
  if (nginx === undefined) notes.push('nginx is not installed: its rows and the ratios to it are left out (apt-get install nginx).');
  const eg = await start(startEdgegate('edgegate', writeConfig(tmp, 'memory-10', configFor(memory, 10)), CONTENDER_CORE));
  const eg1000 = await start(
    startEdgegate('edgegate 1000 routes', writeConfig(tmp, 'memory-1000', configFor(memory, 1000)), CONTENDER_CORE),
  );
  const egRedis =
    redisUrl !== undefined
      ? await start(
          startEdgegate(
            'edgegate redis',
            writeConfig(tmp, 'redis', configFor({ type: 'redis', url: redisUrl, timeout: 2000 }, 10)),
            CONTENDER_CORE,
          ),
        )
      : undefined;
  const egUpstash =
    bridgeUrl !== undefined
      ? await start(
          startEdgegate(
            'edgegate upstash',
            writeConfig(tmp, 'upstash', configFor({ type: 'upstash', url: bridgeUrl, token: REDIS_TOKEN, timeout: 2000 }, 10)),
            CONTENDER_CORE,
          ),
        )
      : undefined;
  let deno: Contender | undefined;
  if (HAS_DENO) {
    try {
      deno = await start(startDeno(join(tmp, 'memory-10.json'), CONTENDER_CORE));
    } catch (err) {
      notes.push(`edgegate on Deno did not start: ${(err as Error).message.split('\n')[0]}`);
    }
  } else notes.push('the deno npm package is not installed: the Deno row is left out.');

  // Sessions (one login per instance; each has its own store) and a check of every route.
  const auth = async (c: Contender | undefined): Promise<Record<string, string>> =>
    c === undefined ? {} : { authorization: `Bearer ${await login(c.url)}` };
  const tokens = { eg: await auth(eg), redis: await auth(egRedis), upstash: await auth(egUpstash) };
  const direct = `http://127.0.0.1:${upstreams.ports[0]}${UPSTREAM_PATH}`;
  await expectStatus(direct, 200);
  for (const c of [fg, nginx, eg, eg1000, deno]) if (c !== undefined) await expectStatus(`${c.url}${PUBLIC_PATH}`, 200);
  const CHECKED = '/api/checked/users/42?fields=name&verbose=true';
  const PRIVATE = '/api/private/users/42';
  const DENIED = '/api/denied/users/42';
  const KEYED = '/api/keyed/users/42';
  await expectStatus(`${eg.url}${CHECKED}`, 200);
  await expectStatus(`${eg.url}/api/checked/users/abc`, 422);
  await expectStatus(`${eg.url}${PRIVATE}`, 200, tokens.eg);
  await expectStatus(`${eg.url}${PRIVATE}`, 401);
  for (const [c, t] of [
    [egRedis, tokens.redis],
    [egUpstash, tokens.upstash],
  ] as const) {
    if (c !== undefined) await expectStatus(`${c.url}${PRIVATE}`, 200, t);
  }
  if (egRedis !== undefined) {
    // The denied route admits 1 request per hour: after two, the store has denied this user once and
    // the deny cache answers from then on.
    await request(`${egRedis.url}${DENIED}`, { headers: tokens.redis }).then((r) => r.body.dump());
    await expectStatus(`${egRedis.url}${DENIED}`, 429, tokens.redis);
  }
  await expectStatus(`${eg.url}${KEYED}`, 200, { 'x-api-key': 'key-00000001' });
  log(
    `started: upstreams, ${[nginx && 'nginx', 'fast-gateway', 'edgegate ×4', deno && 'deno', redisUrl && 'redis + bridge'].filter(Boolean).join(', ')}`,
  );

  const opts = { rounds: ROUNDS, durationS: DURATION, warmupS: WARMUP, log };

  // 1. The public route, every contender.
  const directMember: Member = {
    label: 'direct (one upstream)',
    pid: upstreams.proc.pid,
    run: (d) => runLoad({ url: direct, connections: CONNECTIONS, durationS: d, core: LOAD_CORE }),
  };
  const main: Member[] = [directMember];
  if (nginx !== undefined) main.push(member('nginx', nginx, PUBLIC_PATH));
  main.push(member('fast-gateway', fg, PUBLIC_PATH), member('edgegate (Node)', eg, PUBLIC_PATH));
  if (deno !== undefined) main.push(member('edgegate (Deno)', deno, PUBLIC_PATH));
  log('\n1. public route, every contender');
  const g1 = await runGroup('public', main, opts);

  // 2. One connection: the latency one hop adds.
  log('\n2. one connection (c=1)');
  const c1 = (m: Member): Member => ({
    ...m,
    run: (d) =>
      runLoad({
        url: m.label.startsWith('direct') ? direct : `${urlOf(m.label)}${PUBLIC_PATH}`,
        connections: 1,
        durationS: d,
        core: LOAD_CORE,
      }),
  });
  const urlOf = (label: string) =>
    ({ nginx: nginx?.url, 'fast-gateway': fg.url, 'edgegate (Node)': eg.url, 'edgegate (Deno)': deno?.url })[label] ?? '';
  const g2 = await runGroup('c=1', main.filter((m) => m.label !== 'edgegate (Deno)').map(c1), {
    ...opts,
    durationS: LATENCY_DURATION,
    warmupS: 1,
  });

  // 3. edgegate's scenarios.
  log('\n3. edgegate scenarios');
  const counters = { snapshot: redisCounters };
  const scen: Member[] = [
    member('public route (proxy only)', eg, PUBLIC_PATH),
    member('public route + parameter rules', eg, CHECKED),
    member('private: session + rate limit, memory', eg, PRIVATE, tokens.eg),
  ];
  if (egRedis !== undefined) scen.push(member('private: session + rate limit, Redis TCP', egRedis, PRIVATE, tokens.redis, counters));
  if (egUpstash !== undefined)
    scen.push(member('private: session + rate limit, Upstash via bridge', egUpstash, PRIVATE, tokens.upstash, counters));
  if (egRedis !== undefined) scen.push(member('denied client (deny cache), Redis TCP', egRedis, DENIED, tokens.redis, counters));
  const g3 = await runGroup('scenarios', scen, opts);
  const seq: Record<string, number> = {};
  const SEQ = QUICK ? 200 : 500;
  if (egRedis !== undefined) {
    seq['private: session + rate limit, Redis TCP'] = await sequentialReads(`${egRedis.url}${PRIVATE}`, tokens.redis, SEQ);
    seq['denied client (deny cache), Redis TCP'] = await sequentialReads(`${egRedis.url}${DENIED}`, tokens.redis, SEQ);
  }
  if (egUpstash !== undefined)
    seq['private: session + rate limit, Upstash via bridge'] = await sequentialReads(`${egUpstash.url}${PRIVATE}`, tokens.upstash, SEQ);

  // 4. Scale: routes and rate-limit keys.
  log('\n4. scale');
  const keyed = (label: string, keys: number): Member => ({
    label,
    pid: eg.proc.pid,
    run: (d) =>
      runKeyedLoad({ url: `${eg.url}${KEYED}`, connections: CONNECTIONS, durationS: d, core: LOAD_CORE, header: 'x-api-key', keys }),
  });
  const g4 = await runGroup(
    'scale',
    [
      member('10 routes', eg, PUBLIC_PATH),
      member('1,000 routes', eg1000, PUBLIC_PATH),
      keyed(`${KEYS_SMALL} rate-limit keys`, KEYS_SMALL),
      keyed(`${KEYS_LARGE.toLocaleString('en-US')} rate-limit keys`, KEYS_LARGE),
    ],
    opts,
  );

  // Contenders down before the in-process start-up measurement and the bundle.
  admin?.disconnect();
  admin = undefined;
  for (const p of procs.splice(0).reverse()) await p.stop();

  // 5. Start-up and bundle size.
  log('\n5. start-up and bundle');
  const startup: [string, { first: number; median: number; min: number; max: number; n: number } | undefined][] = [];
  const startupCases: [string, string][] = [
    ['examples/gateway.json (4 routes, no session keys)', join(ROOT, 'examples/gateway.json')],
    ['bench config (10 routes, ES256 session key)', join(tmp, 'memory-10.json')],
    ['bench config (1,000 routes, ES256 session key)', join(tmp, 'memory-1000.json')],
  ];
  for (const [label, file] of startupCases) {
    const r = await runToEnd(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/startup.ts'), file, QUICK ? '10' : '30'], {
      cwd: ROOT,
    });
    startup.push([label, r.code === 0 ? JSON.parse(r.stdout.trim().split('\n').pop() as string) : undefined]);
    log(`  ${label}: ${r.code === 0 ? r.stdout.trim() : r.stderr.slice(0, 300)}`);
  }
  let bundle: { gzipKiB: number; rawKiB: number } | undefined;
  const size = await runToEnd(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bundle-size.ts')], {
    cwd: ROOT,
    timeoutMs: 240_000,
  });
  const gz = size.stdout.match(/gzip\s+([\d.]+) KiB/);
  const raw = size.stdout.match(/raw\s+([\d.]+) KiB/);
  if (size.code === 0 && gz !== null && raw !== null) bundle = { gzipKiB: Number(gz[1]), rawKiB: Number(raw[1]) };
  else notes.push(`the Workers bundle could not be built: ${(size.stderr || size.stdout).trim().split('\n').slice(-1)[0]}`);
  log(`  Workers bundle: ${bundle ? `${bundle.gzipKiB} KiB gzipped (${bundle.rawKiB} KiB raw)` : 'n/a'}`);

  return report({ g1, g2, g3, g4, seq, startup, bundle, hasNginx: nginx !== undefined });
}

interface Results {
  g1: Map<string, Round[]>;
  g2: Map<string, Round[]>;
  g3: Map<string, Round[]>;
  g4: Map<string, Round[]>;
  seq: Record<string, number>;
  startup: [string, { first: number; median: number; min: number; max: number; n: number } | undefined][];
  bundle: { gzipKiB: number; rawKiB: number } | undefined;
  hasNginx: boolean;
}

function report(r: Results): string {
  const rps = (x: Round) => x.rps;
  const cpu = (x: Round) => x.cpuUs;
  const out: string[] = [];
  const loadEnd = loadavg();
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  const denoVersion = HAS_DENO ? version(join(ROOT, 'node_modules/deno/deno'), ['--version'], /deno (\S+)/) : undefined;
  const fgVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules/fast-gateway/package.json'), 'utf8')) as { version: string }).version;
  const loadgenVersion = WRK
    ? version('wrk', ['-v'], /wrk (\S+)/)
    : (JSON.parse(readFileSync(join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')) as { version: string }).version;
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);

  out.push('# edgegate benchmark results', '');
  out.push(
    `Written by \`npm run bench${QUICK ? ' -- --quick' : ''}\` (bench/run.ts) on ${new Date().toISOString()}, in ${minutes} min. Do not edit by hand: run it again.`,
    '',
  );
  out.push('## Machine and versions', '');
  out.push(
    table(
      ['what', 'value'],
      [
        ['CPUs', `${cpus().length} × ${cpuModel}`],
        ['memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
        ['load average (1, 5, 15 min) at start', loadStart.map((l) => l.toFixed(2)).join(', ')],
        ['load average at end', loadEnd.map((l) => l.toFixed(2)).join(', ')],
        ['node', process.version],
        ['nginx', NGINX_BIN ? (version(NGINX_BIN, ['-v'], /nginx\/(\S+)/) ?? '?') : 'not installed'],
        ['fast-gateway', fgVersion],
        ['deno', denoVersion ?? 'not available'],
        ['redis-server', version('redis-server', ['--version'], /v=(\S+)/) ?? 'not installed'],
        ['load generator', `${LOADGEN_NAME} ${loadgenVersion ?? ''}`.trim()],
        ['edgegate commit', gitCommit()],
      ],
    ),
    '',
  );
  out.push(
    `Method: each contender is its own process${TASKSET ? ' pinned to core 1' : ''}; the load generator (${LOADGEN_NAME}, ${CONNECTIONS} connections, one thread)` +
      `${TASKSET ? ', the four upstreams, Redis and the REST bridge share core 0' : ''}. Weights 10/2/2/4 over four loopback upstreams ` +
      `(Node http, small JSON replies, keep-alive). Contenders alternate A B C … over ${ROUNDS} rounds of ${DURATION} s after a ${WARMUP} s warm-up each; ` +
      "values are medians of the rounds with (min–max); ratios are taken per round, then summarised. **CPU µs/req** is the contender process's " +
      "user + system time (with its children, e.g. nginx's worker) over the round ÷ requests served, read from /proc: when the load generator's " +
      'core saturates first, requests/s is only a floor and CPU per request is the fair number; 10⁶ ÷ CPU µs/req is what one core would serve.',
    '',
  );
  if (loadStart[0] > 1 || loadEnd[0] > 1) {
    out.push(
      `> The machine was shared: load average ${loadStart[0].toFixed(2)} at start and ${loadEnd[0].toFixed(2)} at end on ${cpus().length} CPUs ` +
        '(other test suites were running). Absolute numbers are lower than on an idle machine and vary from round to round; per-round ratios hold up better.',
      '',
    );
  }
  for (const n of notes) out.push(`> ${n}`, '');

  // Table 1.
  const d = r.g1.get('direct (one upstream)');
  const ng = r.g1.get('nginx');
  const fgr = r.g1.get('fast-gateway');
  const egr = r.g1.get('edgegate (Node)');
  out.push('## 1. Public route: edgegate against nginx and fast-gateway', '');
  out.push(
    '`GET /api/users/42` → `/account/users/42` on one of four weighted upstreams (the direct row hits one upstream itself: the ceiling).',
    '',
  );
  const rows1: string[][] = [];
  for (const [label, rounds] of r.g1) {
    rows1.push([
      label,
      fmtSpreadInt(spr(rounds, rps)),
      fmtMs(med(rounds, (x) => x.p50)),
      fmtMs(med(rounds, (x) => x.p99)),
      String(rounds.reduce((a, x) => a + x.non2xx + x.errors, 0)),
      `${fmtUs(med(rounds, cpu))} (${fmtUs(spr(rounds, cpu).min)}–${fmtUs(spr(rounds, cpu).max)})`,
      fmtInt(1e6 / med(rounds, cpu)),
      label.startsWith('direct') ? '1' : fmtX(pairRatio(rounds, d, rps)),
      r.hasNginx ? (label === 'nginx' ? '1' : fmtX(pairRatio(rounds, ng, rps))) : '–',
      r.hasNginx && !label.startsWith('direct') ? fmtX(pairRatio(rounds, ng, cpu)) : '–',
      label.startsWith('direct') || label === 'fast-gateway' ? '–' : fmtX(pairRatio(fgr, rounds, cpu)),
    ]);
  }
  out.push(
    table(
      [
        'contender',
        'req/s',
        'p50 ms',
        'p99 ms',
        'non-2xx',
        'CPU µs/req',
        'req/s on one core',
        'req/s ÷ direct',
        'req/s ÷ nginx',
        'CPU ÷ nginx',
        'one-core speed ÷ fast-gateway',
      ],
      rows1,
    ),
    '',
  );
  out.push(
    "\"one-core speed ÷ fast-gateway\" is fast-gateway's CPU per request ÷ the contender's: how many times more requests it serves on one core. (The direct row's CPU is the upstream process's.)",
    '',
  );

  // Table 2.
  const d2 = r.g2.get('direct (one upstream)');
  out.push('## 2. One connection: the latency one hop adds', '');
  const rows2: string[][] = [];
  for (const [label, rounds] of r.g2) {
    const added = label.startsWith('direct') ? '–' : fmtMs(med(rounds, (x) => x.p50) - med(d2, (x) => x.p50));
    rows2.push([
      label,
      fmtInt(med(rounds, rps)),
      fmtMs(med(rounds, (x) => x.p50)),
      fmtMs(med(rounds, (x) => x.p99)),
      added,
      fmtUs(med(rounds, cpu)),
    ]);
  }
  out.push(table(['contender', 'req/s', 'p50 ms', 'p99 ms', 'p50 added to direct, ms', 'CPU µs/req'], rows2), '');

  // Table 3.
  const pub = r.g3.get('public route (proxy only)');
  out.push('## 3. edgegate scenarios (Node adapter)', '');
  out.push(
    'Private routes carry a session JWT (ES256, lock 1) and a GCRA limit keyed by user; the session record (lock 2), its sliding refresh and the limit ' +
      'go to the store in one batch. Store round trips are Redis read events per request (`total_reads_processed`): with one request at a time ' +
      `(${QUICK ? 200 : 500} sequential requests) and under load (pipelines of concurrent requests may share a read, so that one is a floor). ` +
      "Commands per request come from `INFO commandstats` before and after each round; the calls the limiter's script makes inside its EVALSHA (TIME, GET, SET) count there too. " +
      'The denied client was refused by the store once; the deny cache answers since.',
    '',
  );
  const rows3: string[][] = [];
  for (const [label, rounds] of r.g3) {
    const pr = rounds[0]?.perRequest ?? {};
    const cmds = Object.keys(pr)
      .filter((k) => k.startsWith('cmd:'))
      .map((k) => [k.slice(4), med(rounds, (x) => x.perRequest[k] ?? 0)] as const)
      .filter(([, v]) => v >= 0.005)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
    rows3.push([
      label,
      fmtSpreadInt(spr(rounds, rps)),
      fmtMs(med(rounds, (x) => x.p50)),
      fmtMs(med(rounds, (x) => x.p99)),
      String(rounds.reduce((a, x) => a + x.non2xx + x.errors, 0)),
      fmtUs(med(rounds, cpu)),
      label === 'public route (proxy only)' ? '1' : fmtX(pairRatio(rounds, pub, rps)),
      label === 'public route (proxy only)' ? '1' : fmtX(pairRatio(pub, rounds, cpu)),
      'commands' in pr ? (cmds === '' ? '0' : cmds) : label.includes('memory') ? 'in-process (1 batch)' : '–',
      label in r.seq ? r.seq[label].toFixed(2) : '–',
      'reads' in pr ? med(rounds, (x) => x.perRequest.reads).toFixed(2) : '–',
    ]);
  }
  out.push(
    table(
      [
        'scenario',
        'req/s',
        'p50 ms',
        'p99 ms',
        'non-2xx',
        'CPU µs/req',
        'req/s ÷ public',
        'one-core speed ÷ public',
        'store commands/req',
        'round trips/req (1 at a time)',
        'round trips/req (under load)',
      ],
      rows3,
    ),
    '',
  );
  out.push("The denied scenario's non-2xx are its 429s, as intended.", '');

  // Table 4.
  out.push('## 4. Scale: routes and rate-limit keys', '');
  out.push(
    `Routes: the same public route in a table of 10 and of 1,000 routes (\`/api/svcN/items/:id\`). Keys: a route limited by \`x-api-key\`, each request ` +
      `carrying one of ${KEYS_SMALL} or ${KEYS_LARGE.toLocaleString('en-US')} values drawn at random, from bench/keyed-load.ts (an undici Pool with the values built ` +
      "beforehand, so the generator's cost does not depend on the pool; autocannon can only vary a request through a per-request callback, and wrk through Lua). " +
      'Both key runs use that generator, so they compare with each other, not with the wrk rows.',
    '',
  );
  const ten = r.g4.get('10 routes');
  const thousand = r.g4.get('1,000 routes');
  const kS = r.g4.get(`${KEYS_SMALL} rate-limit keys`);
  const kL = r.g4.get(`${KEYS_LARGE.toLocaleString('en-US')} rate-limit keys`);
  const rows4: string[][] = [];
  for (const [label, rounds] of r.g4) {
    const base = label === '1,000 routes' ? ten : label.startsWith(KEYS_LARGE.toLocaleString('en-US')) ? kS : undefined;
    rows4.push([
      label,
      fmtSpreadInt(spr(rounds, rps)),
      fmtMs(med(rounds, (x) => x.p50)),
      fmtMs(med(rounds, (x) => x.p99)),
      String(rounds.reduce((a, x) => a + x.non2xx + x.errors, 0)),
      fmtUs(med(rounds, cpu)),
      base === undefined ? '1' : fmtX(pairRatio(rounds, base, rps)),
      base === undefined ? '1' : fmtX(pairRatio(base, rounds, cpu)),
    ]);
  }
  out.push(table(['case', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'CPU µs/req', 'req/s ÷ smaller', 'one-core speed ÷ smaller'], rows4), '');

  // Table 5.
  out.push('## 5. Start-up and bundle', '');
  out.push(
    'Start-up: `createGateway(config)` + `await gateway.ready` in one Node process (parse and validate, compile routes, rules and balancer tables, ' +
      'import session keys), repeated; "first" includes the JIT\'s cold start, the median is of the repetitions after it.',
    '',
  );
  out.push(
    table(
      ['config', 'first ms', 'median ms', 'min–max ms'],
      r.startup.map(([label, s]) => [
        label,
        s ? s.first.toFixed(1) : 'failed',
        s ? s.median.toFixed(2) : '–',
        s ? `${s.min.toFixed(2)}–${s.max.toFixed(2)}` : '–',
      ]),
    ),
    '',
  );
  out.push(
    r.bundle
      ? `Workers bundle (scripts/bundle-size.ts, as wrangler deploys it): **${r.bundle.gzipKiB} KiB gzipped**, ${r.bundle.rawKiB} KiB raw.`
      : 'Workers bundle: could not be built (see the note above).',
    '',
  );

  // Goals.
  const goals: string[][] = [];
  const egCpu = med(egr, cpu);
  const fgCpu = med(fgr, cpu);
  const speed = pairRatio(fgr, egr, cpu);
  const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
  goals.push([
    'public route ≥ 1.5× fast-gateway on one core (CPU/req ≤ 2/3 of its)',
    `${fmtX(speed)} (edgegate ${fmtUs(egCpu)} µs, fast-gateway ${fmtUs(fgCpu)} µs, goal ≤ ${fmtUs((fgCpu * 2) / 3)} µs)`,
    verdict(speed.median >= 1.5),
  ]);
  goals.push([
    'public route p99 no worse than fast-gateway',
    `${fmtMs(med(egr, (x) => x.p99))} vs ${fmtMs(med(fgr, (x) => x.p99))} ms`,
    verdict(med(egr, (x) => x.p99) <= med(fgr, (x) => x.p99)),
  ]);
  const addEg = med(r.g2.get('edgegate (Node)'), (x) => x.p50) - med(d2, (x) => x.p50);
  const addFg = med(r.g2.get('fast-gateway'), (x) => x.p50) - med(d2, (x) => x.p50);
  goals.push([
    'latency one hop adds (c=1, p50) no worse than fast-gateway',
    `${fmtMs(addEg)} vs ${fmtMs(addFg)} ms`,
    verdict(addEg <= addFg),
  ]);
  const priv = r.g3.get('private: session + rate limit, memory');
  const privRatio = pairRatio(pub, priv, cpu);
  goals.push([
    'private route (session + limit, memory) ≥ 0.8× public',
    `${fmtX(privRatio)} on one core (req/s ${fmtX(pairRatio(priv, pub, rps))})`,
    verdict(privRatio.median >= 0.8),
  ]);
  const rtPriv = [r.seq['private: session + rate limit, Redis TCP'], r.seq['private: session + rate limit, Upstash via bridge']].filter(
    (x) => Number.isFinite(x),
  );
  const rtDenied = r.seq['denied client (deny cache), Redis TCP'];
  goals.push([
    '≤ 1 store round trip per private request, 0 for a denied client',
    rtPriv.length > 0
      ? `${rtPriv.map((x) => x.toFixed(2)).join(' (Redis) / ')} (Upstash) per private request; ${Number.isFinite(rtDenied) ? rtDenied.toFixed(2) : '–'} denied`
      : 'not measured (no redis-server)',
    rtPriv.length > 0 ? verdict(rtPriv.every((x) => x <= 1.05) && rtDenied <= 0.05) : '–',
  ]);
  const routesR = pairRatio(ten, thousand, cpu);
  goals.push([
    '1,000 routes within 10% of 10 routes',
    `${fmtX(routesR)} on one core (req/s ${fmtX(pairRatio(thousand, ten, rps))})`,
    verdict(routesR.median >= 0.9),
  ]);
  const keysR = pairRatio(kS, kL, cpu);
  goals.push([
    '100,000 limit keys within 10% of 10',
    `${fmtX(keysR)} on one core (req/s ${fmtX(pairRatio(kL, kS, rps))})`,
    verdict(keysR.median >= 0.9),
  ]);
  const ex = r.startup[0][1];
  goals.push([
    'start-up < 50 ms for the example config',
    ex ? `${ex.median.toFixed(2)} ms (first, cold: ${ex.first.toFixed(1)} ms)` : 'failed',
    ex ? verdict(ex.median < 50) : 'missed',
  ]);
  goals.push([
    'Workers bundle ≤ 120 KiB gzipped',
    r.bundle ? `${r.bundle.gzipKiB} KiB` : 'not built',
    r.bundle ? verdict(r.bundle.gzipKiB <= 120) : '–',
  ]);
  out.push('## Goals (issue 8)', '');
  out.push(table(['goal', 'measured', ''], goals), '');
  return `${out.join('\n')}\n`;
}

try {
  const text = await main();
  const results = join(ROOT, 'bench/RESULTS.md');
  writeFileSync(results, text);
  // Biome formats Markdown too (npm run lint): align the tables the way it wants them.
  await runToEnd(join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', results], { cwd: ROOT }).catch(() => undefined);
  log(`\n${readFileSync(results, 'utf8')}`);
  log('wrote bench/RESULTS.md');
} finally {
  for (const p of procs.reverse()) await p.stop().catch(() => {});
  for (const c of cleanups) await c().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
}
