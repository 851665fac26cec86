// The limits config: what it accepts, its defaults, and the message each mistake gets.
import { describe, expect, it } from 'vitest';
import { type ConfigError, parseConfig } from '../../src/config/load.ts';
import { limitSchema, limitsSchema } from '../../src/limits/schema.ts';

function problems(doc: unknown): string[] {
  try {
    parseConfig(doc);
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
}

const route = (limits: unknown) => ({ routes: [{ path: '/users/:id', limits: [limits] }] });

describe('limits schema', () => {
  it('keeps "120 per 60s, by token else by IP" directly expressible', () => {
    const limit = limitSchema.parse({ algorithm: 'fixed-window', limit: 120, window: '60s', key: [{ header: 'token' }, 'ip'] });
    expect(limit).toEqual({ algorithm: 'fixed-window', limit: 120, window: 60_000, key: [{ header: 'token' }, 'ip'], cost: 1 });
  });

  it('fills the global defaults', () => {
    expect(limitsSchema.parse({})).toEqual({
      headers: true,
      failure: { policy: 'open', budget: 50, breaker: { failures: 5, cooldown: 10_000 } },
      denyCache: true,
    });
    expect(limitsSchema.parse({ failure: { policy: 'closed', budget: '20ms' } }).failure).toEqual({
      policy: 'closed',
      budget: 20,
      breaker: { failures: 5, cooldown: 10_000 },
    });
  });

  it('accepts every algorithm and key form', () => {
    const doc = {
      routes: [
        {
          path: '/users/:id',
          limits: [
            { algorithm: 'sliding-window', limit: 10, window: '1s', key: 'user', name: 'per-second' },
            { algorithm: 'token-bucket', limit: 5, window: 1000, burst: 20, key: { param: 'id' }, cost: 2, failure: 'closed' },
            { algorithm: 'gcra', limit: 1000, window: '1h', burst: 50, key: 'global' },
          ],
        },
      ],
      limits: {
        default: [{ algorithm: 'fixed-window', limit: 120, window: '60s', key: [{ header: 'x-api-key' }, 'ip'] }],
        headers: false,
        denyCache: false,
      },
    };
    expect(problems(doc)).toEqual([]);
  });

  it.each([
    [
      { algorithm: 'fixed', limit: 1, window: '1s', key: 'ip' },
      'routes[0].limits[0].algorithm: expected one of fixed-window, sliding-window, token-bucket, gcra, received "fixed"',
    ],
    [{ algorithm: 'gcra', limit: 0, window: '1s', key: 'ip' }, 'routes[0].limits[0].limit: expected a positive integer, received 0'],
    [{ algorithm: 'gcra', limit: 1.5, window: '1s', key: 'ip' }, 'routes[0].limits[0].limit: expected a positive integer, received 1.5'],
    [
      { algorithm: 'gcra', limit: 1, window: '0s', key: 'ip' },
      'routes[0].limits[0].window: expected a positive duration such as "1s" or "60s", received "0s"',
    ],
    [
      { algorithm: 'gcra', limit: 1, window: 'soon', key: 'ip' },
      'routes[0].limits[0].window: expected a duration such as 500, "250ms", "60s" or "5m", received "soon"',
    ],
    [
      { algorithm: 'gcra', limit: 1, window: '1s' },
      'routes[0].limits[0].key: expected a key such as "ip", or a list of fallbacks such as [{ "header": "token" }, "ip"] (missing)',
    ],
    [
      { algorithm: 'gcra', limit: 1, window: '1s', key: 'ipx' },
      'routes[0].limits[0].key: expected a key such as "ip", or a list of fallbacks such as [{ "header": "token" }, "ip"], received "ipx"',
    ],
    [{ algorithm: 'gcra', limit: 1, window: '1s', key: [] }, 'routes[0].limits[0].key: expected at least one key, received []'],
    [
      { algorithm: 'gcra', limit: 1, window: '1s', key: { header: 'a b' } },
      'routes[0].limits[0].key.header: expected a header name such as "x-api-key", received "a b"',
    ],
    [
      { algorithm: 'gcra', limit: 1, window: '1s', key: { query: 'a' } },
      'routes[0].limits[0].key: expected a key such as "ip", or a list of fallbacks such as [{ "header": "token" }, "ip"], received {"query":"a"}',
    ],
    [
      { algorithm: 'fixed-window', limit: 3, window: '1s', key: 'ip', burst: 5 },
      'routes[0].limits[0].burst: applies to token-bucket and gcra only, received 5',
    ],
    [
      { algorithm: 'fixed-window', limit: 3, window: '1s', key: 'ip', cost: 4 },
      'routes[0].limits[0].cost: expected at most 3 (the limit), or no request could ever pass, received 4',
    ],
    [
      { algorithm: 'gcra', limit: 10, window: '1s', burst: 2, key: 'ip', cost: 3 },
      'routes[0].limits[0].cost: expected at most 2 (the burst), or no request could ever pass, received 3',
    ],
    [
      { algorithm: 'gcra', limit: 1, window: '1s', key: 'ip', cost: 0 },
      'routes[0].limits[0].cost: expected a positive integer, received 0',
    ],
    [
      { algorithm: 'gcra', limit: 1, window: '1s', key: 'ip', failure: 'half' },
      'routes[0].limits[0].failure: expected "open" or "closed", received "half"',
    ],
    [
      { algorithm: 'gcra', limit: 1, window: '1s', key: 'ip', name: 'say "hi"' },
      'routes[0].limits[0].name: expected printable ASCII without quotes or backslashes, received "say \\"hi\\""',
    ],
    [
      { algorithm: 'sliding-window', limit: 1_000_000_000, window: '1d', key: 'ip' },
      'routes[0].limits[0].window: expected limit (and burst) × window in ms below 2^50, so Redis and memory compute exactly; use a shorter window or a smaller limit, received "1d"',
    ],
  ])('%j → %s', (limit, message) => {
    expect(problems(route(limit))).toEqual([message]);
  });

  it('names problems in the global settings by path', () => {
    const doc = {
      routes: [{ path: '/' }],
      limits: { headers: 'yes', failure: { policy: 'half', budget: 'x', breaker: { failures: 0 } }, extra: 1 },
    };
    expect(problems(doc)).toEqual([
      'limits.headers: expected true or false, received "yes"',
      'limits.failure.policy: expected "open" or "closed", received "half"',
      'limits.failure.budget: expected a duration such as 500, "250ms", "60s" or "5m", received "x"',
      'limits.failure.breaker.failures: expected a positive integer, received 0',
      'limits.extra: unknown field',
    ]);
  });
});
