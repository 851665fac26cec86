// Where edgegate's CPU goes per request: runs the Node adapter under `node --cpu-prof` while the load
// generator drives one route, then summarises the profile by function (self time) and by package.
//
//   npx tsx bench/profile.ts [public|private|checked] [seconds]     # writes bench/profiles/<route>-<time>.cpuprofile
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { keygen } from '../src/session/keys.ts';
import { edgegateConfig, startEdgegate, writeConfig } from './lib/contenders.ts';
import { ROOT, runLoad } from './lib/load.ts';
import { treeCpuMs } from './lib/procs.ts';
import { login, startUpstreams } from './lib/setup.ts';

const route = process.argv[2] ?? 'public';
const seconds = Number(process.argv[3] ?? 10);
const paths: Record<string, string> = {
  public: '/api/users/42',
  private: '/api/private/users/42',
  checked: '/api/checked/users/42?fields=name&verbose=true',
};
if (!(route in paths)) throw new Error(`route: one of ${Object.keys(paths).join(', ')}`);

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (url === '') return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const pkg = path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (pkg !== null) return pkg[1];
  if (path.startsWith('node:')) return 'node:internal';
  if (path.startsWith(ROOT)) return relative(ROOT, path).split('/').slice(0, 2).join('/');
  return path;
}

export function summarise(profile: Profile, requests: number, top = 30): string {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++)
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byPkg = new Map<string, number>();
  for (const n of profile.nodes) {
    const t = self.get(n.id) ?? 0;
    if (t === 0) continue;
    const f = n.callFrame;
    const name = `${f.functionName || '(anonymous)'}  ${where(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    byFn.set(name, (byFn.get(name) ?? 0) + t);
    const pkg = f.functionName === '(idle)' ? '(idle)' : f.functionName === '(garbage collector)' ? '(gc)' : where(f.url);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + t);
  }
  const busy = total - (byPkg.get('(idle)') ?? 0);
  const line = (name: string, t: number) =>
    `  ${((100 * t) / busy).toFixed(1).padStart(5)}%  ${((t / requests) | 0).toString().padStart(4)} µs/req  ${name}`;
  const out = [
    `profile: ${(busy / 1e6).toFixed(2)} s busy of ${(total / 1e6).toFixed(2)} s, ${requests} requests, ${(busy / requests).toFixed(1)} µs busy per request (main thread)`,
  ];
  out.push('', 'by package / folder (self time):');
  for (const [k, v] of [...byPkg]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20))
    out.push(line(k, v));
  out.push('', `top ${top} functions (self time):`);
  for (const [k, v] of [...byFn]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    out.push(line(k, v));
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tmp = mkdtempSync(join(tmpdir(), 'edgegate-profile-'));
  const profDir = join(tmp, 'prof');
  const upstreams = await startUpstreams(0);
  try {
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
    const gw = await startEdgegate('edgegate', file, 1, ROOT, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
    const headers: Record<string, string> = {};
    if (route === 'private') headers.authorization = `Bearer ${await login(gw.url)}`;
    const url = `${gw.url}${paths[route]}`;
    await runLoad({ url, connections: 64, durationS: 2, headers, core: 0 }); // warm-up (in the profile too)
    const cpu0 = treeCpuMs(gw.proc.pid);
    const r = await runLoad({ url, connections: 64, durationS: seconds, headers, core: 0 });
    const cpu1 = treeCpuMs(gw.proc.pid);
    await gw.proc.stop();
    const [name] = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    const outDir = join(ROOT, 'bench/profiles');
    mkdirSync(outDir, { recursive: true });
    const dest = join(outDir, `${route}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
    renameSync(join(profDir, name), dest);
    console.log(
      `${route}: ${Math.round(r.rps)} req/s, ${(((cpu1 - cpu0) * 1000) / r.requests).toFixed(1)} µs CPU/req (process, all threads) over ${r.requests} requests; non-2xx ${r.non2xx}`,
    );
    console.log(`profile: ${relative(ROOT, dest)} (open in Chrome DevTools or speedscope)\n`);
    // The warm-up's requests are in the profile too: count them in.
    const profile = JSON.parse(readFileSync(dest, 'utf8')) as Profile;
    console.log(summarise(profile, r.requests * (1 + 2 / seconds)));
  } finally {
    await upstreams.proc.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
