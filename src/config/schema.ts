// The whole config document: one zod schema composed from each feature's fragment.
import * as z from 'zod';
import { envelopeSchema } from '../compat/schema.ts';
import { limitsSchema, routeLimitsSchema } from '../limits/schema.ts';
import { ipRulesSchema, paramsSchema, patternsSchema } from '../rules/schema.ts';
import { routeAuthSchema, sessionSchema, tokenSessionsSchema } from '../session/schema.ts';
import { storeSchema } from '../store/schema.ts';
import { upstreamSchema } from '../upstream/schema.ts';
import { httpMethod, nonEmptyString } from './types.ts';
import { size, timeout } from './units.ts';

const PATH = /^\/[A-Za-z0-9\-._~:@!$&'()*+,;=/%]*$/;

export const routeSchema = z
  .object({
    /** Names the route in logs and rate-limit policies; defaults to "METHOD path". */
    name: nonEmptyString.optional(),
    method: z
      .union([httpMethod, z.array(httpMethod).min(1)], { error: 'expected a method such as "GET", or a list of them' })
      .default('GET'),
    path: z
      .string({ error: 'expected a path such as "/users/:id"' })
      .regex(PATH, { error: 'expected a path starting with "/", such as "/users/:id" or "/static/*"' }),
    upstream: nonEmptyString
      .optional()
      .meta({ description: 'Name of an entry of `upstreams`; required unless the route is served by the gateway itself.' }),
    /** The upstream path, with `:param` taken from the route path; a trailing `*` carries the rest. */
    rewrite: z.string().regex(PATH, { error: 'expected a path starting with "/"' }).optional(),
    params: paramsSchema.optional(),
    /** How the request is sent upstream when it differs from how it came in (the original's GET rules). */
    forward: z
      .object({
        method: httpMethod.optional(),
        /** Send the JSON or form body's fields as the query string instead of a body. */
        bodyAsQuery: z.boolean().optional(),
      })
      .strict()
      .optional(),
    ipRules: ipRulesSchema.optional(),
    bodyLimit: size.optional(),
    timeout: timeout.optional(),
    ...routeAuthSchema.shape,
    limits: routeLimitsSchema.optional(),
  })
  .strict();

export type RouteConfig = z.infer<typeof routeSchema>;

export const serverSchema = z
  .object({
    /** Largest request body accepted; larger ones get 413 before they are read. */
    bodyLimit: size.default(1024 * 1024),
    /** One JSON line per request on stdout. */
    accessLog: z.boolean().default(true),
    /** Proxies whose X-Forwarded-For is believed (CIDRs). Others' is ignored. */
    trustProxy: z.array(nonEmptyString).default([]),
    /** "always-200": every reply of the gateway itself has status 200, as the original's did (the code is in the body). */
    errorStatus: z.enum(['semantic', 'always-200'], { error: 'expected "semantic" or "always-200"' }).default('semantic'),
  })
  .strict();

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    server: serverSchema.default({ bodyLimit: 1024 * 1024, accessLog: true, trustProxy: [], errorStatus: 'semantic' }),
    store: storeSchema,
    ipRules: ipRulesSchema.optional(),
    /** Named regex patterns for parameter rules, beside the built-in ones. */
    patterns: patternsSchema.optional(),
    upstreams: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'expected a name of letters, digits, "_", "." or "-"' }), upstreamSchema)
      .default({}),
    routes: z.array(routeSchema).min(1, { error: 'expected at least one route' }),
    limits: limitsSchema.optional(),
    session: sessionSchema.optional(),
    /** Opaque token sessions kept in the store, for routes with `auth: "token"` (the original gateway's). */
    tokenSessions: tokenSessionsSchema.optional(),
    /** The original gateway's envelope protocol in front of the routes (see compat/envelope.ts). */
    envelope: envelopeSchema.optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    cfg.routes.forEach((route, i) => {
      if (route.upstream !== undefined && !(route.upstream in cfg.upstreams)) {
        const known = Object.keys(cfg.upstreams).join(', ') || 'none';
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'upstream'],
          message: `expected the name of an upstream (${known}), received ${JSON.stringify(route.upstream)}`,
        });
      }
      if (route.rewrite !== undefined) {
        const params = new Set([...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]));
        for (const m of route.rewrite.matchAll(/:([A-Za-z0-9_]+)/g)) {
          if (!params.has(m[1]))
            ctx.addIssue({
              code: 'custom',
              path: ['routes', i, 'rewrite'],
              message: `uses :${m[1]}, which the route path does not define`,
            });
        }
      }
    });
  });

/** The config as written (input) and as validated, with defaults applied (output). */
export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.infer<typeof configSchema>;
