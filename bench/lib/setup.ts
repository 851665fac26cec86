// Shared set-up of the bench scripts: the upstream process, sessions, a copy of an older commit.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './load.ts';
import { type Proc, startProcess } from './procs.ts';

/** The four upstreams in their own process (bench/upstreams.ts), pinned to `core`. */
export async function startUpstreams(core?: number, count = 4): Promise<{ ports: number[]; proc: Proc }> {
  const { proc, match } = await startProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/upstreams.ts'), String(count)], {
    name: 'upstreams',
    core,
    cwd: ROOT,
    ready: /upstreams (\{.*\})/,
  });
  return { ports: (JSON.parse(match[1]) as { ports: number[] }).ports, proc };
}

/** Logs in once through the gateway's login route and returns the session token. */
export async function login(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'bench@example.com', password: 'Secret1!' }),
  });
  const body = (await res.json()) as { data?: { token?: string } };
  if (res.status !== 200 || typeof body.data?.token !== 'string') throw new Error(`login failed: ${res.status} ${JSON.stringify(body)}`);
  return body.data.token;
}

/** Sends one request and checks its status; the bench refuses to measure a misconfigured route. */
export async function expectStatus(url: string, status: number, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  if (res.status !== status) throw new Error(`${url}: expected ${status}, got ${res.status} ${text.slice(0, 300)}`);
}

/**
 * The tree of commit `ref` unpacked into a temp folder (git archive: the repository and its index are
 * not touched), sharing this checkout's node_modules; for before/after comparisons in one run.
 */
export function checkoutRef(ref: string, parent: string): { root: string; sha: string } {
  const sha = execFileSync('git', ['rev-parse', '--short', ref], { cwd: ROOT, encoding: 'utf8' }).trim();
  const root = join(parent, `edgegate-${sha}`);
  if (!existsSync(join(root, 'package.json'))) {
    mkdirSync(root, { recursive: true });
    execFileSync('sh', ['-c', `git archive ${sha} | tar -x -C ${JSON.stringify(root)}`], { cwd: ROOT });
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  }
  return { root, sha };
}
