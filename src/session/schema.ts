// Config of sessions (owned by the session feature).
import { z } from 'zod';

/** Placeholder until the session feature lands. */
export const sessionSchema = z.object({}).passthrough();

/** The fields a route gets from the session feature. */
export const routeAuthSchema = z.object({
  auth: z.enum(['public', 'session', 'jwt'], { error: 'expected "public", "session" or "jwt"' }).default('public'),
});
