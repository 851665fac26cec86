// Shared fixtures for the compat suites: seed directories built from the reference files, the CLI as a
// child process (serve and check), and the original's user service as a real upstream.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'adapters/node/bin.js');
/** The original gateway's files (copies of ../shared/seed in examples/seed, so a clone is self-contained). */
export const REFERENCE = join(ROOT, 'examples/seed');

export interface KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  privatePem: string;
  publicPem: string;
}

export async function rsaKeyPair(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  return { privateKey, publicKey, privatePem: await exportPKCS8(privateKey), publicPem: await exportSPKI(publicKey) };
}

export interface SeedDirOptions {
  redisPort: number;
  /** One port per entry of service_endpoints.user, in order. */
  userPorts: readonly number[];
  keys: KeyPair;
  /** Only for the timeout case: service_endpoints.timeout in ms. */
  timeoutMs?: number;
}

/**
 * A temp dir holding the reference files with only the ports rewritten (and, for the timeout case
 * only, the timeout), plus the PEM pair. Returns the dir; remove it with `rm`.
 */
export async function seedDir(options: SeedDirOptions): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgegate-seed-'));
  const system = JSON.parse(await readFile(join(REFERENCE, 'system-config.json'), 'utf8'));
  system.redis.port = options.redisPort;
  (system.service_endpoints.user as { port: number }[]).forEach((e, i) => {
    e.port = options.userPorts[i];
  });
  if (options.timeoutMs !== undefined) system.service_endpoints.timeout = options.timeoutMs;
  await writeFile(join(dir, 'system-config.json'), JSON.stringify(system, null, 2));
  await writeFile(join(dir, 'api-rules.json'), await readFile(join(REFERENCE, 'api-rules.json'), 'utf8'));
  await writeFile(join(dir, 'private.pem'), options.keys.privatePem);
  await writeFile(join(dir, 'public.pem'), options.keys.publicPem);
  return dir;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `edgegate <args>` to completion (check, keygen). */
export function runCli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: process.env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ServedGateway {
  url: string;
  stderr(): string;
  close(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts `edgegate serve <args>` with PORT=0 and resolves once it listens. */
export function serveCli(args: readonly string[]): Promise<ServedGateway> {
  const child = spawn(process.execPath, [BIN, 'serve', '--no-access-log', ...args], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let err = '';
  let listening = false;
  child.stderr?.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`edgegate serve did not listen within 15 s:\n${err}`));
    }, 15_000);
    child.once('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`edgegate serve exited (${code}) before listening:\n${err}`));
    });
    child.stderr?.on('data', (d: string) => {
      err += d;
      const m = listening ? null : /listening on (http:\/\/\S+)/.exec(err);
      if (m === null) return;
      listening = true;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.once('exit', () => children.delete(child));
      resolve({
        url: m[1],
        stderr: () => err,
        close: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
            child.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

export interface EnvelopeReply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

let sequence = 0;

/** `POST /` with an envelope (or raw text), as the original's clients call. */
export async function call(
  url: string,
  envelope: Record<string, unknown> | string,
  headers: Record<string, string> = {},
  init: { method?: string; path?: string } = {},
): Promise<EnvelopeReply> {
  const method = init.method ?? 'POST';
  const response = await fetch(`${url}${init.path ?? '/'}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: method === 'GET' || method === 'HEAD' ? undefined : typeof envelope === 'string' ? envelope : JSON.stringify(envelope),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? {} : JSON.parse(text) };
}

/** An envelope with a fresh request_id. */
export function envelope(service: string, event: string, body?: unknown): Record<string, unknown> {
  return { service, event, request_id: `req-${++sequence}`, ...(body === undefined ? {} : { body }) };
}
