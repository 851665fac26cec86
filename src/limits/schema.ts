// Config of rate limits (owned by the limits feature).
import { z } from 'zod';

/** Placeholder until the rate-limit feature lands: global settings. */
export const limitsSchema = z.object({}).passthrough();
/** Placeholder: a route's `limits` list. */
export const routeLimitsSchema = z.array(z.object({}).passthrough());
