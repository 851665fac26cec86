// RateLimit-Policy / RateLimit fields and the quota-exceeded problem type, per draft-ietf-httpapi-ratelimit-headers-10.
// https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/10/
import type { RequestContext } from '../context.ts';
import { codes, type GatewayError } from '../errors.ts';

/** The draft's problem type for a request over one or more quota policies (its §"Problem Types"). */
export const QUOTA_EXCEEDED_TYPE = 'https://iana.org/assignments/http-problem-types#quota-exceeded';
const QUOTA_EXCEEDED_TITLE = 'Request cannot be satisfied as assigned quota has been exceeded';

/** Whole seconds for `w` and `t` (sf-integers), rounded up so a client never retries too early. */
export function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/** A policy name as an sf-string (RFC 8941 §3.3.3); the schema already excludes `"` and `\`. */
export function sfString(name: string): string {
  return `"${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** One RateLimit-Policy member: `"name";q=120;w=60`. */
export function policyItem(name: string, quota: number, windowMs: number): string {
  return `${sfString(name)};q=${quota};w=${Math.max(1, seconds(windowMs))}`;
}

/** One RateLimit member: `"name";r=37;t=12`. `quotedName` is `sfString(name)`, computed once. */
export function limitItem(quotedName: string, remaining: number, resetMs: number): string {
  return `${quotedName};r=${remaining};t=${seconds(resetMs)}`;
}

/** Names of the policies that denied each error the limiter threw; read by `problemFor`. */
const violated = new WeakMap<GatewayError, readonly string[]>();

export function recordViolated(err: GatewayError, names: readonly string[]): GatewayError {
  violated.set(err, names);
  return err;
}

/** The policy names that denied this request, when the limiter threw `err`. */
export function violatedPolicies(err: GatewayError): readonly string[] | undefined {
  return violated.get(err);
}

/** True when the client lists application/problem+json in Accept with a non-zero q. */
function acceptsProblem(request: Request): boolean {
  const accept = request.headers.get('accept');
  if (accept === null) return false;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';');
    if (type.trim().toLowerCase() !== 'application/problem+json') continue;
    const q = params.find((p) => p.trim().toLowerCase().startsWith('q='));
    return q === undefined || Number(q.trim().slice(2)) > 0;
  }
  return false;
}

/**
 * The 429 as an RFC 9457 problem with the draft's quota-exceeded type, when the client asked for
 * application/problem+json and `err` is the limiter's denial; otherwise undefined (render the
 * usual `{ code, message }`). The original's `code` and `message` ride along as extension members.
 */
export function problemFor(ctx: Pick<RequestContext, 'request'>, err: GatewayError): Response | undefined {
  if (err.kind !== 'overRateLimit' || !acceptsProblem(ctx.request)) return undefined;
  const headers = new Headers(err.headers);
  headers.set('content-type', 'application/problem+json');
  const body = {
    type: QUOTA_EXCEEDED_TYPE,
    title: QUOTA_EXCEEDED_TITLE,
    status: err.status,
    code: codes.overRateLimit.code,
    message: codes.overRateLimit.message,
    'violated-policies': violated.get(err) ?? [],
  };
  return new Response(JSON.stringify(body), { status: err.status, headers });
}
