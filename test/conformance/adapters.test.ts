// What differs by design between the runtime adapters: how a bad config shows (a Worker cannot exit,
// so it answers 500; Deno exits 2), secrets from variables, and Deno's graceful shutdown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withSecrets } from '../../src/config/env.ts';
import { startRuntime } from '../helpers/runtimes.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let a: TestUpstream;
let slow: TestUpstream;

beforeAll(async () => {
  a = await startUpstream(echo('a'));
  slow = await startUpstream((_req, res) => {
    setTimeout(() => res.end('late'), 600);
  });
});

afterAll(async () => {
  await Promise.all([a?.close(), slow?.close()]);
});

const valid = () => ({ upstreams: { a: { targets: [{ url: a.url }] } }, routes: [{ path: '/a', upstream: 'a' }] });

describe('secrets from variables (withSecrets)', () => {
  it('merges EDGEGATE_SESSION_KEYS into session.keys by kid and appends new kids', () => {
    const doc = { routes: [], session: { issuer: 'i', keys: [{ kid: 'k1', alg: 'ES256', active: true }] } };
    const out = withSecrets(doc, {
      EDGEGATE_SESSION_KEYS: '[{"kid":"k1","privateKey":"PEM1"},{"kid":"k2","alg":"EdDSA","publicKey":"PEM2"}]',
    }) as never;
    expect(out).toEqual({
      routes: [],
      session: {
        issuer: 'i',
        keys: [
          { kid: 'k1', alg: 'ES256', active: true, privateKey: 'PEM1' },
          { kid: 'k2', alg: 'EdDSA', publicKey: 'PEM2' },
        ],
      },
    });
    expect(doc.session.keys[0]).toEqual({ kid: 'k1', alg: 'ES256', active: true });
  });

  it('sets the admin token, and selects Upstash only when the config names no store', () => {
    const vars = { EDGEGATE_ADMIN_TOKEN: 'a'.repeat(20), UPSTASH_REDIS_REST_URL: 'https://x', UPSTASH_REDIS_REST_TOKEN: 't' };
    expect(withSecrets({ routes: [] }, vars)).toEqual({
      routes: [],
      session: { admin: { token: 'a'.repeat(20) } },
      store: { type: 'upstash' },
    });
    expect(withSecrets({ routes: [], store: { type: 'memory' } }, vars)).toMatchObject({ store: { type: 'memory' } });
    expect(withSecrets({ routes: [] }, { UPSTASH_REDIS_REST_URL: 'https://x' })).toEqual({ routes: [] });
  });

  it('names a variable that is not JSON, without its value', () => {
    expect(() => withSecrets({}, { EDGEGATE_SESSION_KEYS: '{"kid": secret-material' })).toThrow(/EDGEGATE_SESSION_KEYS: expected JSON/);
    expect(() => withSecrets({}, { EDGEGATE_SESSION_KEYS: '{"kid": secret-material' })).not.toThrow(/secret-material/);
  });
});

describe('workerd', () => {
  const invalid = async (config: object, env?: Record<string, string>) => {
    const rt = await startRuntime('workerd', config, { env });
    try {
      const replies = [await fetch(`${rt.url}/a`), await fetch(`${rt.url}/anything`)];
      for (const res of replies) {
        expect(res.status).toBe(500);
        const body = await res.json();
        expect(body).toMatchObject({ code: 10000, error: 'invalid gateway config; see the Worker logs' });
        expect(JSON.stringify(body)).not.toContain('routes');
      }
      return rt.output();
    } finally {
      await rt.close();
    }
  };

  it('answers every request with 500 when the config is invalid, and logs the problems', async () => {
    const log = await invalid({ routes: [{ path: 'no-slash' }] });
    expect(log).toContain('invalid config');
    expect(log).toContain('routes[0].path');
  });

  it('reads the session keys from EDGEGATE_SESSION_KEYS', async () => {
    const log = await invalid(valid(), { EDGEGATE_SESSION_KEYS: '[{"kid":"k1","alg":"HS256","privateKey":"x"}]' });
    expect(log).toContain('session.keys[0].alg');
  });

  it('refuses the TCP Redis store, which needs the Node adapter', async () => {
    const log = await invalid({ ...valid(), store: { type: 'redis', url: 'redis://127.0.0.1:6379' } });
    expect(log).toContain('store.type');
  });

  it('serves once the bindings are valid', async () => {
    const rt = await startRuntime('workerd', valid());
    try {
      expect((await fetch(`${rt.url}/a`)).status).toBe(200);
    } finally {
      await rt.close();
    }
  });
});

describe('deno', () => {
  it('exits with 2 and names every problem of an invalid config', async () => {
    await expect(startRuntime('deno', { routes: [{ path: 'no-slash' }], extra: 1 })).rejects.toThrow(
      /exited with 2[\s\S]*routes\[0\]\.path[\s\S]*extra: unknown field/,
    );
  });

  it('finishes in-flight requests on SIGTERM before exiting', async () => {
    const rt = await startRuntime('deno', {
      upstreams: { slow: { targets: [{ url: slow.url }] } },
      routes: [{ path: '/slow', upstream: 'slow' }],
    });
    const inFlight = fetch(`${rt.url}/slow`);
    await new Promise((r) => setTimeout(r, 200));
    await rt.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('late');
    expect(rt.output()).toContain('SIGTERM, finishing in-flight requests');
  });
});
