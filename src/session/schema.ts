// Config of sessions: signing keys, token transport, identity headers, JWKS, admin and remote JWKS.
import * as z from 'zod';
import { nonEmptyString, positiveInt } from '../config/types.ts';
import { duration, timeout } from '../config/units.ts';

/** The asymmetric algorithms edgegate signs and verifies with; HMAC and `none` are never accepted. */
export const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

const algorithm = z.enum(ALGORITHMS, { error: 'expected one of "RS256", "PS256", "ES256", "EdDSA"' });

/** RFC 7230 token characters: what a header or cookie name may contain. */
const TOKEN_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const headerName = z
  .string({ error: 'expected a header name such as "x-user-id"' })
  .regex(TOKEN_NAME, { error: 'expected a header name such as "x-user-id"' })
  .transform((s) => s.toLowerCase());

/** Headers the gateway itself relies on; an identity header must not overwrite them. */
const RESERVED_HEADERS = new Set([
  'authorization',
  'cookie',
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'proxy-authorization',
]);

/** Claims the gateway sets itself; a login reply may not supply them. */
export const RESERVED_CLAIMS = new Set(['sub', 'sid', 'iat', 'exp', 'nbf', 'iss', 'aud', 'jti']);

/** A JSON Pointer (RFC 6901) such as "/data/user_id". */
export const jsonPointer = z
  .string({ error: 'expected a JSON pointer such as "/data/user_id"' })
  .regex(/^(\/([^~/]|~[01])*)+$/, { error: 'expected a JSON pointer such as "/data/user_id"' });

/** A public key in a JWK, kept loose here: keys.ts imports it and names what is wrong. */
const jwk = z.looseObject({ kty: z.string({ error: 'expected a JWK with "kty"' }) });

// PEM pasted through environment variables often arrives with literal "\n"; accept that too.
const pemText = z.string().transform((s) => s.replace(/\\n/g, '\n').trim());

const privateKey = z.union([pemText, jwk], { error: 'expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a JWK object' });
const publicKey = z.union([pemText, jwk], { error: 'expected an SPKI PEM ("-----BEGIN PUBLIC KEY-----") or a JWK object' });

export const keySchema = z
  .object({
    /** Names the key in the JWT header and the JWKS; pick a new one for every key. */
    kid: nonEmptyString.regex(/^[\x21-\x7e]+$/, { error: 'expected a kid of visible ASCII characters' }),
    alg: algorithm,
    /** Present on the key that signs; a verify-only key (one being retired) has none. */
    privateKey: privateKey.optional(),
    /** Derived from `privateKey` when left out. */
    publicKey: publicKey.optional(),
    /** The key new tokens are signed with. Default: the first key that has a private key. */
    active: z.boolean().optional(),
  })
  .strict()
  .superRefine((key, ctx) => {
    if (key.privateKey === undefined && key.publicKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['publicKey'], message: 'expected a privateKey or a publicKey (missing)' });
    }
    if (key.active === true && key.privateKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['active'], message: 'an active key signs tokens, so it needs a privateKey' });
    }
  });

export type KeyConfig = z.infer<typeof keySchema>;

const audience = z.union([nonEmptyString, z.array(nonEmptyString).min(1)], { error: 'expected an audience string or a list of them' });

export const remoteJwksSchema = z
  .object({
    /** The identity provider's JWKS, e.g. "https://idp.example.com/.well-known/jwks.json". */
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL of a JWKS' }),
    issuer: nonEmptyString,
    audience,
    /** Algorithms accepted from this provider; HMAC is never accepted. */
    algorithms: z
      .array(algorithm)
      .min(1)
      .default([...ALGORITHMS]),
    /** How long fetched keys count as fresh; older ones are still served while a refresh runs. */
    cacheTtl: duration.default(600_000),
    /** Least time between two refetches caused by an unknown kid, so forged kids cannot flood the provider. */
    cooldown: duration.default(30_000),
    /** Bound on one JWKS fetch. */
    timeout: timeout.default(5_000),
  })
  .strict();

export type RemoteJwksConfig = z.infer<typeof remoteJwksSchema>;

export const sessionSchema = z
  .object({
    /** Signing and verification keys; several for rotation. */
    keys: z.array(keySchema).default([]),
    /** `iss` of the tokens the gateway signs and accepts; required with `keys`. */
    issuer: nonEmptyString.optional(),
    /** `aud` of the tokens the gateway signs and accepts; required with `keys`. */
    audience: nonEmptyString.optional(),
    /** Idle lifetime: a session unused this long expires. Each use slides it. */
    ttl: duration.default(30 * 60_000),
    /** Absolute lifetime from login, whatever the use; also the JWT's `exp`. */
    maxLifetime: duration.default(24 * 3_600_000),
    /** Tolerance on `exp`, `nbf` and `iat` for clocks that disagree. */
    clockSkew: duration.default(30_000),
    /** Where clients send the token. With several, two different tokens in one request are refused. */
    token: z
      .object({
        /** A header carrying the bare token; the original gateway used "token". */
        header: headerName.optional(),
        /** A cookie name; login sets it when the login route asks for a cookie. */
        cookie: z.string().regex(TOKEN_NAME, { error: 'expected a cookie name such as "edgegate_session"' }).optional(),
        /** `Authorization: Bearer <token>`. */
        bearer: z.boolean().default(true),
      })
      .strict()
      .default({ bearer: true }),
    /** Claim → upstream header, e.g. { "sub": "x-user-id" }; client-sent copies are removed. */
    identityHeaders: z
      .record(
        nonEmptyString,
        headerName.refine((h) => !RESERVED_HEADERS.has(h), { error: 'expected a header the gateway does not use itself' }),
      )
      .default({ sub: 'x-user-id' }),
    /** Extra claims copied into the JWT at login: a name found next to the user id, or a JSON pointer into the reply. */
    claims: z
      .array(
        z.union([z.string().regex(/^[A-Za-z0-9_.:-]+$/), jsonPointer], {
          error: 'expected a claim name such as "role" or a JSON pointer such as "/data/role"',
        }),
      )
      .default([]),
    /** Tokens longer than this are refused before any decoding. */
    maxTokenBytes: positiveInt.default(8192),
    jwks: z
      .object({
        path: z
          .string()
          .regex(/^\/[A-Za-z0-9\-._~/]*$/, { error: 'expected a path such as "/.well-known/jwks.json"' })
          .default('/.well-known/jwks.json'),
        enabled: z.boolean().default(true),
        /** `Cache-Control: max-age`; publish a new key at least this long before it becomes active. */
        maxAge: duration.default(300_000),
      })
      .strict()
      .default({ path: '/.well-known/jwks.json', enabled: true, maxAge: 300_000 }),
    /** The revocation endpoint, off unless a token is set. */
    admin: z
      .object({
        token: z.string().min(16, { error: 'expected an admin token of at least 16 characters' }).optional(),
      })
      .strict()
      .default({}),
    /** An external identity provider, for routes with `auth: "jwt"`. */
    remoteJwks: remoteJwksSchema.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.keys.length > 0) {
      if (s.issuer === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['issuer'],
          message: 'expected the issuer of the gateway\'s tokens, e.g. "https://api.example.com" (required with keys)',
        });
      if (s.audience === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['audience'],
          message: 'expected the audience of the gateway\'s tokens, e.g. "api" (required with keys)',
        });
    }
    const seen = new Map<string, number>();
    s.keys.forEach((k, i) => {
      const first = seen.get(k.kid);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['keys', i, 'kid'],
          message: `duplicates the kid of keys[${first}], received ${JSON.stringify(k.kid)}`,
        });
      else seen.set(k.kid, i);
    });
    const active = s.keys.flatMap((k, i) => (k.active === true ? [i] : []));
    if (active.length > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['keys', active[1], 'active'],
        message: `only one key may be active; keys[${active[0]}] already is`,
      });
    if (s.maxLifetime < s.ttl)
      ctx.addIssue({ code: 'custom', path: ['maxLifetime'], message: 'expected a maxLifetime at least as long as ttl' });
    if (s.token.header === undefined && s.token.cookie === undefined && !s.token.bearer) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'expected at least one token source: bearer, header or cookie' });
    }
    for (const c of s.claims) {
      const name = claimName(c);
      if (RESERVED_CLAIMS.has(name))
        ctx.addIssue({
          code: 'custom',
          path: ['claims'],
          message: `"${name}" is set by the gateway and cannot be copied from the login reply`,
        });
    }
  });

/** The claim a `claims` entry produces: the name itself, or the last segment of a pointer. */
export function claimName(entry: string): string {
  if (!entry.startsWith('/')) return entry;
  const last = entry.slice(entry.lastIndexOf('/') + 1);
  return last.replace(/~1/g, '/').replace(/~0/g, '~');
}

export type SessionConfig = z.infer<typeof sessionSchema>;
export type SessionConfigInput = z.input<typeof sessionSchema>;

export const loginSchema = z
  .object({
    /** Where the user id sits in the upstream's JSON reply, e.g. "/data/user_id". */
    userId: jsonPointer,
    /** Where to put the token in the reply, e.g. "/data/token" (the original's login reply). */
    token: jsonPointer.optional(),
    /** Also (or only) hand the token back as the `session.token.cookie` cookie. */
    cookie: z.boolean().optional(),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (l.token === undefined && l.cookie !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: 'expected a token pointer or cookie: true, or the client never receives its token',
      });
    }
  });

export type LoginConfig = z.infer<typeof loginSchema>;

/** The fields a route gets from the session feature. */
export const routeAuthSchema = z.object({
  /**
   * "session": the gateway's own tokens (both locks); "jwt": tokens from `session.remoteJwks`;
   * "token": opaque tokens naming a store key that holds a JWT (`tokenSessions`, the original gateway's).
   */
  auth: z.enum(['public', 'session', 'jwt', 'token'], { error: 'expected "public", "session", "jwt" or "token"' }).default('public'),
  /** Marks a login route: a 2xx JSON reply with a user id creates a session. */
  login: loginSchema.optional(),
  /** Marks a logout route (needs auth "session"): the current session is revoked. */
  logout: z.boolean().optional(),
});

// --- opaque token sessions (the original gateway's double lock; see session/token-sessions.ts) ---------

/** Asymmetric algorithms a token session's JWT may use; HMAC and `none` are never accepted. */
export const TOKEN_SESSION_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const tokenSessionsSchema = z
  .object({
    /** The request header carrying the opaque token; the original's "token". */
    header: headerName.default('token'),
    /** Store key of a session: prefix + token (the original's "token-"). */
    keyPrefix: z.string().max(256, { error: 'expected a prefix of at most 256 characters' }).default('token-'),
    algorithm: z
      .enum(TOKEN_SESSION_ALGORITHMS, { error: `expected an asymmetric algorithm: ${TOKEN_SESSION_ALGORITHMS.join(', ')}` })
      .default('RS256'),
    /** PKCS#8 PEM; re-signs the stored JWT. Without it the JWT is never re-signed (the key's TTL still slides). */
    privateKey: pemText.optional(),
    /** SPKI PEM; verifies the stored JWT. */
    publicKey: pemText,
    /** Idle lifetime: each use resets the key's TTL to this, and a re-signed JWT expires this long after. */
    ttl: duration.refine((ms) => ms >= 1_000, { error: 'expected at least one second, such as "180s"' }).default(180_000),
    /** The claim holding the user id; a JWT without it is invalid. */
    userClaim: nonEmptyString.default('user_id'),
    /** The upstream header that carries the user id; client-sent copies are removed. */
    userHeader: headerName
      .refine((h) => !RESERVED_HEADERS.has(h), { error: 'expected a header the gateway does not use itself' })
      .default('user_id'),
    /** Longer tokens are refused before the store is asked. */
    maxTokenBytes: positiveInt.default(1024),
  })
  .strict();

export type TokenSessionsConfig = z.infer<typeof tokenSessionsSchema>;
export type TokenSessionsConfigInput = z.input<typeof tokenSessionsSchema>;
