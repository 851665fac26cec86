// Config of upstreams: named services, each a weighted set of targets.
import * as z from 'zod';
import { nonNegativeInt, positiveInt } from '../config/types.ts';
import { duration, timeout } from '../config/units.ts';

export const targetSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as "http://10.0.0.5:3001"' }),
    weight: positiveInt.default(1),
  })
  .strict();

export const upstreamSchema = z
  .object({
    targets: z.array(targetSchema).min(1, { error: 'expected at least one target' }),
    balancer: z
      .enum(['weighted-random', 'round-robin'], { error: 'expected "weighted-random" or "round-robin"' })
      .default('weighted-random'),
    timeout: timeout.default(5_000),
    /** Retries of an idempotent request on another target, after a connection error, 502 or 503. */
    retries: nonNegativeInt.default(1),
    /** The share of requests that may be retries, so a failing fleet is not hammered. */
    retryBudget: z.number().min(0).max(1).default(0.2),
    health: z
      .object({
        /** Consecutive failures that eject a target. */
        failures: positiveInt.default(3),
        /** First ejection length; doubles on each repeated ejection up to `maxCooldown`. */
        cooldown: duration.default(10_000),
        maxCooldown: duration.default(300_000),
      })
      .strict()
      .default({ failures: 3, cooldown: 10_000, maxCooldown: 300_000 }),
  })
  .strict();

export type UpstreamConfig = z.infer<typeof upstreamSchema>;
