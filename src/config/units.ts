// Durations ("250ms", "60s", "5m", "1h", "1d" or plain milliseconds) and sizes ("512kb", "1mb" or bytes).
import * as z from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const DURATION_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)$/i;
const SIZE_BYTES = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;

/** Parses a duration to milliseconds, or returns undefined. */
export function parseDuration(input: number | string): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : undefined;
  const m = DURATION.exec(input.trim());
  if (m === null) return /^\d+$/.test(input.trim()) ? Number(input) : undefined;
  return Math.round(Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS]);
}

/** Parses a size to bytes, or returns undefined. */
export function parseSize(input: number | string): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input >= 0 ? input : undefined;
  const m = SIZE.exec(input.trim());
  if (m === null) return /^\d+$/.test(input.trim()) ? Number(input) : undefined;
  return Math.floor(Number(m[1]) * SIZE_BYTES[m[2].toLowerCase() as keyof typeof SIZE_BYTES]);
}

/** A zod type for a duration; the parsed value is milliseconds. */
export const duration = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 500, "250ms", "60s" or "5m", received ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'Milliseconds, or a string such as "250ms", "60s", "5m", "1h", "1d".' });

/** setTimeout's largest delay (2^31 - 1 ms, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration a timer waits for (timeouts, budgets): 0 would fire at once, and so would one past MAX_TIMER_MS. */
export const timeout = duration.refine((ms) => ms >= 1 && ms <= MAX_TIMER_MS, {
  error: 'expected a timeout from 1 ms to "24d" (a longer or zero timer fires at once)',
});

/** A zod type for a size; the parsed value is bytes. */
export const size = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const bytes = parseSize(v);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 1048576, "512kb" or "1mb", received ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return bytes;
  })
  .meta({ description: 'Bytes, or a string such as "512kb", "1mb".' });
