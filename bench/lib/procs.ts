// Child processes for the bench: spawn and wait for a "listening" line, pin to a core, read CPU time.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

/** Whether a command can be run (a binary on PATH answering its version flag). */
export function hasCommand(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined;
}

export const TASKSET = hasCommand('taskset', ['-V']);

/** `cmd args` run on one core through taskset where it exists; unchanged elsewhere. */
export function pinned(core: number | undefined, cmd: string, args: string[]): [string, string[]] {
  if (core === undefined || !TASKSET) return [cmd, args];
  return ['taskset', ['-c', String(core), cmd, ...args]];
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a long-running child and resolves once its output matches `ready` (at once when undefined);
 * the match is returned.
 * The child is killed if it does not get there within `timeoutMs`.
 */
export async function startProcess(
  cmd: string,
  args: string[],
  options: { ready: RegExp | undefined; core?: number; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; name: string },
): Promise<{ proc: Proc; match: RegExpMatchArray }> {
  const [c, a] = pinned(options.core, cmd, args);
  // taskset execs the command, so the pid stays the contender's own.
  const child = spawn(c, a, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 1_000_000) out = out.slice(-200_000); // the access log is off, but bound it anyway
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const proc: Proc = {
    child,
    pid: child.pid as number,
    output: () => out,
    stop: () => stopChild(child),
  };
  if (options.ready === undefined) return { proc, match: [''] as RegExpMatchArray };
  const ready = options.ready;
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.name} did not start within ${options.timeoutMs ?? 30_000} ms:\n${out.slice(-2000)}`));
    }, options.timeoutMs ?? 30_000);
    const check = () => {
      const m = out.match(ready);
      if (m !== null) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        child.stderr?.off('data', check);
        resolve(m);
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${code ?? signal}) before it was ready:\n${out.slice(-2000)}`));
    });
  });
  return { proc, match };
}

/** SIGTERM, then SIGKILL after 5 s. */
export function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      done();
    });
    child.kill('SIGTERM');
  });
}

/** Runs a command to completion and returns its stdout, stderr and exit code. */
export function runToEnd(
  cmd: string,
  args: string[],
  options: { core?: number; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [c, a] = pinned(options.core, cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const TICKS_PER_SECOND = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime + stime of one process (all its threads), in ms; undefined when it is gone or /proc is absent. */
function processCpuMs(pid: number): { cpu: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { cpu: (ticks * 1000) / TICKS_PER_SECOND, ppid };
  } catch {
    return undefined;
  }
}

export const HAS_PROC = processCpuMs(process.pid) !== undefined;

/**
 * CPU time (user + system, ms) of a process and all its live descendants (nginx's workers, npx's
 * child). Read before and after a round; the difference ÷ requests is the CPU cost per request.
 */
export function treeCpuMs(root: number): number {
  if (!HAS_PROC) return Number.NaN;
  const byParent = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const s = processCpuMs(pid);
    if (s === undefined) continue;
    cpu.set(pid, s.cpu);
    const list = byParent.get(s.ppid);
    if (list === undefined) byParent.set(s.ppid, [pid]);
    else list.push(pid);
  }
  let total = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    total += cpu.get(pid) ?? 0;
    for (const c of byParent.get(pid) ?? []) todo.push(c);
  }
  return total;
}

/** A free TCP port on loopback (for processes that cannot report the one they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
