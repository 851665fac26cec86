// Config of the store: memory (default), Redis over TCP (Node only) or Upstash REST.
import * as z from 'zod';
import { nonEmptyString, nonNegativeInt, positiveInt } from '../config/types.ts';
import { timeout } from '../config/units.ts';

function parsable(url: string): boolean {
  try {
    return new URL(url).hostname !== '';
  } catch {
    return false;
  }
}

export const storeSchema = z
  .discriminatedUnion(
    'type',
    [
      z.object({ type: z.literal('memory'), maxEntries: positiveInt.default(100_000) }).strict(),
      z
        .object({
          type: z.literal('redis'),
          /** `redis://[:auth@]host:port/db` or `rediss://` for TLS. */
          url: nonEmptyString
            .regex(/^rediss?:\/\/\S+$/, { error: 'expected a redis:// or rediss:// URL' })
            // "redis://:@" passes the pattern but not the URL parser, which would throw at start-up.
            .refine(parsable, { error: 'expected a redis:// or rediss:// URL with a host' })
            .optional(),
          host: nonEmptyString.optional(),
          port: z
            .union([positiveInt, z.string().regex(/^\d+$/).transform(Number)], { error: 'expected a port number' })
            .refine((p) => p >= 1 && p <= 65535, { error: 'expected a port number from 1 to 65535' })
            .optional(),
          auth: z.string().optional(),
          db: z.union([nonNegativeInt, z.string().regex(/^\d+$/).transform(Number)], { error: 'expected a database number' }).optional(),
          tls: z.boolean().optional(),
          timeout: timeout.default(1_000),
        })
        .strict()
        .refine((c) => c.url === undefined || (c.host === undefined && c.port === undefined), {
          error: 'give either url or host/port, not both',
          path: ['url'],
        }),
      z
        .object({
          type: z.literal('upstash'),
          /** Defaults to the UPSTASH_REDIS_REST_URL variable of the runtime. */
          url: nonEmptyString.regex(/^https?:\/\/\S+$/, { error: 'expected an https:// URL (http:// for a local bridge)' }).optional(),
          /** Defaults to UPSTASH_REDIS_REST_TOKEN. */
          token: nonEmptyString.optional(),
          timeout: timeout.default(1_000),
        })
        .strict(),
    ],
    { error: 'expected a store with type "memory", "redis" or "upstash"' },
  )
  .default({ type: 'memory', maxEntries: 100_000 });

export type StoreConfig = z.infer<typeof storeSchema>;
