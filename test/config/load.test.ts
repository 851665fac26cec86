// Config validation: every problem named with its path and expectation, all at once; durations and sizes.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { parseDuration, parseSize } from '../../src/config/units.ts';
import { createGateway } from '../../src/gateway.ts';

function problems(doc: unknown): string[] {
  try {
    parseConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const minimal = { upstreams: { u: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: [{ path: '/x', upstream: 'u' }] };

describe('config validation', () => {
  it('accepts a minimal config and applies defaults', () => {
    const c = parseConfig(minimal);
    expect(c.store).toEqual({ type: 'memory', maxEntries: 100_000 });
    expect(c.upstreams.u).toMatchObject({ balancer: 'weighted-random', timeout: 5000, retries: 1, retryBudget: 0.2 });
    expect(c.upstreams.u.targets[0].weight).toBe(1);
    expect(c.routes[0]).toMatchObject({ method: 'GET', auth: 'public' });
  });

  it('names every problem with its path, expectation and received value', () => {
    const found = problems({
      upstreams: {
        user: {
          targets: [
            { url: 'http://a:1', weight: 2 },
            { url: 'http://b:2', weight: 'abc' },
          ],
          timeout: 'soon',
        },
      },
      routes: [{ path: 'x', upstream: 'user', method: 'FETCH', surprise: true }],
      store: { type: 'redis', port: 'abc' },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        'upstreams.user.targets[1].weight: expected a positive integer, received "abc"',
        'upstreams.user.timeout: expected a duration such as 500, "250ms", "60s" or "5m", received "soon"',
        'routes[0].path: expected a path starting with "/", such as "/users/:id" or "/static/*", received "x"',
        'routes[0].method: expected a method such as "GET", or a list of them, received "FETCH"',
        'routes[0].surprise: unknown field',
        'store.port: expected a port number, received "abc"',
      ]),
    );
  });

  it('reports a missing field as missing', () => {
    expect(problems({ upstreams: {} })).toContainEqual(expect.stringMatching(/^routes: .*\(missing\)$/));
  });

  it('checks references between sections', () => {
    expect(problems({ ...minimal, routes: [{ path: '/x/:id', upstream: 'nope', rewrite: '/y/:other' }] })).toEqual([
      'routes[0].upstream: expected the name of an upstream (u), received "nope"',
      'routes[0].rewrite: uses :other, which the route path does not define, received "/y/:other"',
    ]);
  });

  it('rejects unsafe or unknown patterns and bad CIDRs when the gateway is built', () => {
    const build = (doc: unknown) => () => createGateway(doc as never);
    expect(build({ ...minimal, routes: [{ path: '/x', upstream: 'u', params: { body: { a: { regex: '/(a+)+$/' } } } }] })).toThrow(
      /routes\[0\]\.params\.body\.a\.regex/,
    );
    expect(build({ ...minimal, routes: [{ path: '/x', upstream: 'u', params: { body: { a: { regex: 'nosuch' } } } }] })).toThrow(
      ConfigError,
    );
    expect(build({ ...minimal, ipRules: { deny: ['10.0.0.0/33'] } })).toThrow(/ipRules: .*10\.0\.0\.0\/33/);
  });
});

describe('units', () => {
  it.each([
    [500, 500],
    ['500', 500],
    ['250ms', 250],
    ['60s', 60_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['soon', undefined],
    [-1, undefined],
  ] as const)('duration %s → %s', (input, ms) => expect(parseDuration(input)).toBe(ms));

  it.each([
    [1024, 1024],
    ['512kb', 512 * 1024],
    ['1mb', 1024 * 1024],
    ['1MB', 1024 * 1024],
    ['lots', undefined],
  ] as const)('size %s → %s', (input, bytes) => expect(parseSize(input)).toBe(bytes));
});
