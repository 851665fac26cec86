// Before/after in one run: edgegate from this working tree against edgegate at an older commit, on the
// public and the private route, rounds alternating, with CPU time per request read from /proc.
//
//   npx tsx bench/compare.ts HEAD~1            # 5 s × 3 rounds per side and route
//   ROUNDS=5 DURATION=5 npx tsx bench/compare.ts 1a2b3c4
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keygen } from '../src/session/keys.ts';
import { type Contender, edgegateConfig, PUBLIC_PATH, startEdgegate, writeConfig } from './lib/contenders.ts';
import { LOADGEN_NAME, runLoad } from './lib/load.ts';
import { fmtInt, fmtUs, fmtX, type Member, ratio, runGroup, spread } from './lib/rounds.ts';
import { checkoutRef, expectStatus, login, startUpstreams } from './lib/setup.ts';

const ref = process.argv[2] ?? 'HEAD';
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DURATION = Number(process.env.DURATION ?? 5);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const LOAD_CORE = 0;
const CONTENDER_CORE = 1;

const tmp = mkdtempSync(join(tmpdir(), 'edgegate-compare-'));
const started: { proc: { stop(): Promise<void> } }[] = [];
try {
  const { root, sha } = checkoutRef(ref, tmp);
  const upstreams = await startUpstreams(LOAD_CORE);
  started.push(upstreams);
  const key = await keygen('ES256', 'bench');
  const file = writeConfig(
    tmp,
    'edgegate',
    edgegateConfig({
      ports: upstreams.ports,
      store: { type: 'memory', maxEntries: 1_000_000 },
      routes: 10,
      privateKeyPem: key.privateKeyPem,
    }),
  );
  const sides: [string, Contender][] = [];
  for (const [label, dir] of [
    [`before (${sha})`, root],
    ['after (working tree)', undefined],
  ] as const) {
    const c = await startEdgegate(label, file, CONTENDER_CORE, dir);
    started.push(c);
    sides.push([label, c]);
  }
  const members: Member[] = [];
  for (const [label, c] of sides) {
    const token = await login(c.url);
    await expectStatus(`${c.url}${PUBLIC_PATH}`, 200);
    await expectStatus(`${c.url}/api/private/users/42`, 200, { authorization: `Bearer ${token}` });
    members.push({
      label: `${label} public`,
      pid: c.proc.pid,
      run: (d) => runLoad({ url: `${c.url}${PUBLIC_PATH}`, connections: CONNECTIONS, durationS: d, core: LOAD_CORE }),
    });
    members.push({
      label: `${label} private`,
      pid: c.proc.pid,
      run: (d) =>
        runLoad({
          url: `${c.url}/api/private/users/42`,
          connections: CONNECTIONS,
          durationS: d,
          core: LOAD_CORE,
          headers: { authorization: `Bearer ${token}` },
        }),
    });
  }
  console.log(`compare ${sha} → working tree · ${LOADGEN_NAME} c=${CONNECTIONS} · ${ROUNDS} × ${DURATION} s`);
  const res = await runGroup('compare', members, { rounds: ROUNDS, durationS: DURATION, warmupS: 2, log: console.log });
  const get = (l: string) => res.get(l) ?? [];
  for (const route of ['public', 'private']) {
    const b = get(`${sides[0][0]} ${route}`);
    const a = get(`${sides[1][0]} ${route}`);
    const cb = spread(b.map((r) => r.cpuUs)).median;
    const ca = spread(a.map((r) => r.cpuUs)).median;
    console.log(
      `${route.padEnd(8)} CPU/req ${fmtUs(cb)} → ${fmtUs(ca)} µs: before/after ${fmtX(
        ratio(
          b.map((r) => r.cpuUs),
          a.map((r) => r.cpuUs),
        ),
      )}; req/s ${fmtInt(spread(b.map((r) => r.rps)).median)} → ${fmtInt(spread(a.map((r) => r.rps)).median)}: after/before ${fmtX(
        ratio(
          a.map((r) => r.rps),
          b.map((r) => r.rps),
        ),
      )}`,
    );
  }
} finally {
  for (const s of started.reverse()) await s.proc.stop();
  rmSync(tmp, { recursive: true, force: true });
}
