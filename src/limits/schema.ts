// Config of rate limits: the global `limits` settings and a route's `limits` list.
import * as z from 'zod';
import { nonEmptyString, positiveInt } from '../config/types.ts';
import { duration, timeout } from '../config/units.ts';

/**
 * Every product the scripts compute (limit × window, burst × window, in ms) stays below 2^50, so
 * Redis's Lua numbers (IEEE doubles, exact to 2^53) and JavaScript numbers agree to the unit.
 */
export const MAX_PRODUCT = 2 ** 50;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Policy names become sf-strings in RateLimit fields (RFC 8941 §3.3.3): printable ASCII, no quote or backslash. */
const POLICY_NAME = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

const positiveDuration = duration.refine((ms) => ms >= 1, { error: 'expected a positive duration such as "1s" or "60s"' });

export const keySpecSchema = z.union(
  [
    z.enum(['ip', 'user', 'global']),
    z.object({ header: z.string().regex(HEADER_NAME, { error: 'expected a header name such as "x-api-key"' }) }).strict(),
    z.object({ param: nonEmptyString }).strict(),
  ],
  { error: 'expected "ip", "user", "global", { "header": "name" } or { "param": "name" }' },
);

export type KeySpec = z.infer<typeof keySpecSchema>;

export const algorithmSchema = z.enum(['fixed-window', 'sliding-window', 'token-bucket', 'gcra'], {
  error: 'expected one of fixed-window, sliding-window, token-bucket, gcra',
});

export type AlgorithmName = z.infer<typeof algorithmSchema>;

export const failurePolicySchema = z.enum(['open', 'closed'], { error: 'expected "open" or "closed"' });

export const limitSchema = z
  .object({
    /** The policy name in RateLimit fields; defaults to e.g. "120-per-60s". */
    name: z.string().regex(POLICY_NAME, { error: 'expected printable ASCII without quotes or backslashes' }).optional(),
    algorithm: algorithmSchema,
    limit: positiveInt,
    window: positiveDuration,
    burst: positiveInt.optional().meta({ description: 'token-bucket: bucket size; gcra: requests allowed at once. Defaults to `limit`.' }),
    key: z
      .union([keySpecSchema, z.array(keySpecSchema).min(1, { error: 'expected at least one key' })], {
        error: 'expected a key such as "ip", or a list of fallbacks such as [{ "header": "token" }, "ip"]',
      })
      .meta({ description: 'Who is counted; in a list, the first key present in the request wins.' }),
    cost: positiveInt.default(1),
    failure: failurePolicySchema.optional().meta({ description: 'Overrides `limits.failure.policy` for this limit.' }),
  })
  .strict()
  .superRefine((l, ctx) => {
    // Cross-field checks only once each field is valid on its own, so one mistake gets one message.
    const valid = (n: unknown) => Number.isInteger(n) && (n as number) > 0;
    if (!valid(l.limit) || !valid(l.window) || !valid(l.cost) || (l.burst !== undefined && !valid(l.burst))) return;
    const windowed = l.algorithm === 'fixed-window' || l.algorithm === 'sliding-window';
    if (windowed && l.burst !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['burst'], message: 'applies to token-bucket and gcra only' });
    }
    const capacity = windowed ? l.limit : (l.burst ?? l.limit);
    if (l.cost > capacity) {
      ctx.addIssue({
        code: 'custom',
        path: ['cost'],
        message: `expected at most ${capacity} (the ${windowed ? 'limit' : 'burst'}), or no request could ever pass, received ${l.cost}`,
      });
    }
    if (Math.max(l.limit, l.burst ?? 0) * l.window > MAX_PRODUCT) {
      ctx.addIssue({
        code: 'custom',
        path: ['window'],
        message:
          'expected limit (and burst) × window in ms below 2^50, so Redis and memory compute exactly; use a shorter window or a smaller limit',
      });
    }
  });

export type Limit = z.infer<typeof limitSchema>;
export type LimitInput = z.input<typeof limitSchema>;

/** A route's `limits`: every one must admit a request. */
export const routeLimitsSchema = z.array(limitSchema);

export const limitsSchema = z
  .object({
    /** Applies to routes that give no `limits` of their own (an empty list opts a route out). */
    default: z.array(limitSchema).optional(),
    /** Emit the RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-10). */
    headers: z.boolean({ error: 'expected true or false' }).default(true),
    failure: z
      .object({
        policy: failurePolicySchema.default('open'),
        /** How long the store may take before the request goes on without it. */
        budget: timeout.default(50),
        breaker: z
          .object({
            /** Consecutive store failures that open the breaker. */
            failures: positiveInt.default(5),
            /** How long an open breaker skips the store before it tries again. */
            cooldown: positiveDuration.default(10_000),
          })
          .strict()
          .default({ failures: 5, cooldown: 10_000 }),
      })
      .strict()
      .default({ policy: 'open', budget: 50, breaker: { failures: 5, cooldown: 10_000 } }),
    /** Deny an identity already denied without asking the store again, until its reset. */
    denyCache: z.boolean({ error: 'expected true or false' }).default(true),
  })
  .strict();

export type LimitsConfig = z.infer<typeof limitsSchema>;
export type LimitsConfigInput = z.input<typeof limitsSchema>;
