// `edgegate serve` as its own Node process, for suites that need several gateway instances.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface GatewayProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** stdout and stderr so far (the gateway logs handled failures as JSON lines on stderr). */
  output(): string;
}

/** Starts `edgegate serve` in its own Node process and waits for "listening on URL". */
export function serveProcess(configPath: string, nodeArgs: string[] = []): Promise<GatewayProcess> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, 'adapters/node/bin.js', 'serve', '--config', configPath, '--port', '0', '--host', '127.0.0.1', '--no-access-log'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start within 20 s:\n${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.length > 1_000_000) out = out.slice(-500_000);
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m !== null && child.pid !== undefined) {
        clearTimeout(timer);
        resolvePromise({ url: m[1].replace(/\/$/, ''), pid: child.pid, child, output: () => out });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}) before listening:\n${out}`));
    });
  });
}

/** SIGTERM (graceful), SIGKILL if it has not exited within 5 s; resolves with the exit code. */
export async function stopProcess(p: GatewayProcess): Promise<number | null> {
  const { child } = p;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
