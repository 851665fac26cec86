// Starts edgegate on a real runtime for black-box tests: the Node adapter, the Worker in workerd
// (Miniflare's programmatic API) or the Deno adapter (the `deno` npm package's binary).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { nodeGateway } from '../../adapters/node/gateway.ts';
import { serveNode } from '../../adapters/node/serve.ts';
import { withSecrets } from '../../src/config/env.ts';
import { startGateway } from './gateway.ts';

export type RuntimeKind = 'node' | 'workerd' | 'deno';

export interface RuntimeOptions {
  /** Variables as the runtime would see them: Worker bindings, Deno's environment, Node's env. */
  env?: Record<string, string>;
}

export interface RunningRuntime {
  kind: RuntimeKind;
  url: string;
  /** What the runtime wrote to stdout and stderr so far (access log, errors), for failing tests. */
  output(): string;
  close(): Promise<void>;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DENO_BIN = join(ROOT, 'node_modules/deno/deno');

export function startRuntime(kind: RuntimeKind, config: object, options: RuntimeOptions = {}): Promise<RunningRuntime> {
  switch (kind) {
    case 'node':
      return startNode(config, options);
    case 'workerd':
      return startWorkerd(config, options);
    case 'deno':
      return startDeno(config, options);
  }
}

async function startNode(config: object, options: RuntimeOptions): Promise<RunningRuntime> {
  if (options.env === undefined) {
    const gw = await startGateway(config as never);
    return { kind: 'node', url: gw.url, output: () => gw.log.map((e) => JSON.stringify(e)).join('\n'), close: gw.close };
  }
  // The Worker and Deno adapters take secrets from variables; apply the same overlay here so that one
  // `env` means the same thing on the three runtimes (the Node adapter reads the store's from env).
  const gateway = await nodeGateway(withSecrets(config, options.env) as never, {
    accessLog: false,
    env: options.env,
    deps: { logError: () => {} },
  });
  const server = await serveNode(gateway, { port: 0, hostname: '127.0.0.1' });
  return {
    kind: 'node',
    url: server.url,
    output: () => '',
    close: async () => {
      await server.close(1_000);
      await gateway.close();
    },
  };
}

// ---- workerd ---------------------------------------------------------------------------------

let bundle: Promise<string> | undefined;

/**
 * Bundles adapters/workers/index.ts once per test process, as wrangler would (esm, browser platform,
 * worker conditions), without minifying so that workerd's stack traces stay readable.
 */
export function workerBundle(): Promise<string> {
  bundle ??= (async () => {
    const esbuild = await import('esbuild');
    const dir = await mkdtemp(join(tmpdir(), 'edgegate-worker-'));
    const outfile = join(dir, 'index.js');
    await esbuild.build({
      entryPoints: [join(ROOT, 'adapters/workers/index.ts')],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      conditions: ['workerd', 'worker', 'browser'],
      target: 'es2022',
      logLevel: 'error',
    });
    return outfile;
  })();
  return bundle;
}

/** Same as wrangler.toml's; read here so the two cannot drift. */
async function compatibilityDate(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const toml = await readFile(join(ROOT, 'wrangler.toml'), 'utf8');
  const m = toml.match(/^compatibility_date\s*=\s*"([^"]+)"/m);
  if (m === null) throw new Error('wrangler.toml has no compatibility_date');
  return m[1];
}

async function startWorkerd(config: object, options: RuntimeOptions): Promise<RunningRuntime> {
  const [scriptPath, date, { Miniflare, Log, LogLevel }] = await Promise.all([workerBundle(), compatibilityDate(), import('miniflare')]);
  const lines: string[] = [];
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    // Module names are relative to this root; the bundle sits in a temp dir outside the cwd.
    modulesRoot: dirname(scriptPath),
    compatibilityDate: date,
    bindings: { EDGEGATE_CONFIG: JSON.stringify(config), ...options.env },
    host: '127.0.0.1',
    port: 0,
    // The Worker's console goes to this log; keep it for failing tests instead of the terminal.
    log: new (class extends Log {
      override log(message: string): void {
        lines.push(message);
      }
    })(LogLevel.INFO),
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      stdout.on('data', (d: Buffer) => lines.push(d.toString()));
      stderr.on('data', (d: Buffer) => lines.push(d.toString()));
    },
  });
  const url = await mf.ready;
  return { kind: 'workerd', url: url.origin, output: () => lines.join(''), close: () => mf.dispose() };
}

// ---- deno ------------------------------------------------------------------------------------

async function startDeno(config: object, options: RuntimeOptions): Promise<RunningRuntime> {
  const dir = await mkdtemp(join(tmpdir(), 'edgegate-deno-'));
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify(config));
  const child = spawn(
    DENO_BIN,
    [
      'run',
      '--allow-net',
      '--allow-read',
      '--allow-env',
      '--no-lock',
      'adapters/deno/main.ts',
      '--config',
      file,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
    ],
    {
      cwd: ROOT,
      // Only what the test gives, plus what Deno itself needs to find its cache.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  try {
    const url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`deno did not start within 20 s:\n${output}`)), 20_000);
      child.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
        const m = output.match(/edgegate listening on (http:\/\/\S+)/);
        if (m !== null) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`deno exited with ${code} before listening:\n${output}`));
      });
    });
    return {
      kind: 'deno',
      url,
      output: () => output,
      close: async () => {
        await stop(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stop(child);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** SIGTERM (the adapter shuts down gracefully), SIGKILL if it has not exited within 5 s. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      done();
    });
    child.kill('SIGTERM');
  });
}
