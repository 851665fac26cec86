// The `edgegate` command as users run it: a real child process.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const BIN = new URL('../../adapters/node/bin.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'edgegate-cli-'));

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function file(name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return path;
}

describe('edgegate check', () => {
  it('exits 0 on the example config', async () => {
    const r = await run(['check', '--config', 'examples/gateway.json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ok \(6 routes, 2 upstreams\)/);
  });

  it('prints every problem with its path and exits 2', async () => {
    const path = file('bad.json', {
      upstreams: { user: { targets: [{ url: 'http://a:1' }, { url: 'http://b:2', weight: 'abc' }] } },
      routes: [
        { path: '/x', upstream: 'nope' },
        { path: 'y', upstream: 'user' },
      ],
    });
    const r = await run(['check', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('upstreams.user.targets[1].weight: expected a positive integer, received "abc"');
    expect(r.stderr).toContain('routes[1].path: expected a path starting with "/"');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('exits 2 on a file that is not JSON, or missing', async () => {
    expect((await run(['check', '--config', file('broken.json', '{ nope')])).code).toBe(2);
    const missing = await run(['check', '--config', join(dir, 'absent.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot be read (ENOENT)');
  });

  it('prints help, and exits 2 on an unknown command', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('edgegate serve --config FILE');
    expect((await run(['frobnicate'])).code).toBe(2);
  });
});

describe('edgegate serve', () => {
  let upstream: TestUpstream;
  let child: ChildProcess;
  let url: string;
  const lines: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => {
      // A slow reply, so that shutdown has an in-flight request to finish.
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"done":true}');
      }, 300);
    });
    const path = file('serve.json', { upstreams: { u: { targets: [{ url: upstream.url }] } }, routes: [{ path: '/slow', upstream: 'u' }] });
    child = spawn(process.execPath, [BIN, 'serve', '--config', path, '--host', '127.0.0.1'], { env: { ...process.env, PORT: '0' } });
    child.stdout?.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
    url = await new Promise<string>((resolve, reject) => {
      child.stderr?.on('data', (c: Buffer) => {
        const m = /listening on (http:\/\/\S+)/.exec(c.toString());
        if (m) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error('serve exited early')));
    });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await upstream?.close();
  });

  it('serves, logs one JSON line per request, and on SIGTERM finishes in-flight requests and exits 0', async () => {
    const inflight = fetch(`${url}/slow`);
    await new Promise((r) => setTimeout(r, 100));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
    expect(await exited).toBe(0);
    const entry = JSON.parse(lines.find((l) => l.includes('"/slow"')) ?? '{}');
    expect(entry).toMatchObject({ method: 'GET', path: '/slow', route: 'GET /slow', status: 200, upstream: upstream.url });
    expect(typeof entry.duration_ms).toBe('number');
    expect(entry.request_id).toBeTruthy();
  });
});
