// The original gateway's protocol in front of the native routes: `POST /` with JSON
// `{ service, event, request_id, body }`, dispatched to the route `/<service>/<event>` inside the same
// app (no second HTTP hop, no second parse of the body), replies in the original's shape.
import type { Context, MiddlewareHandler } from 'hono';
import { checkDeclaredLength, readBody } from '../body.ts';
import type { CompiledRoute } from '../config/compile.ts';
import { codes, GatewayError } from '../errors.ts';
import type { EnvelopeConfig } from './schema.ts';

export type { EnvelopeConfig } from './schema.ts';

/** What the envelope hands the route: a request with the client's headers, and the body already parsed. */
export interface InnerRequest {
  readonly request: Request;
  readonly body: unknown;
}

export interface EnvelopeOptions {
  readonly config: EnvelopeConfig;
  readonly routes: readonly CompiledRoute[];
  /** Largest envelope accepted, bytes. */
  readonly bodyLimit: number;
  /** Answer every reply with status 200, the code in the body (the original's behaviour). */
  readonly alwaysOk: boolean;
  /** Runs a native route for the inner request, within the same request context. */
  readonly dispatch: (c: Context, route: CompiledRoute, inner: InnerRequest) => Promise<Response>;
}

/**
 * What a request_id may be: a string of 1–128 characters from the set X-Request-Id accepts (letters,
 * digits and `. _ : @ / + = -`; UUIDs, ULIDs and numbers in text qualify), or a non-negative safe
 * integer. It becomes the request's X-Request-Id upstream and in the access log, so it must be a
 * value a header and a log line can carry as is.
 */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The request_id as text, or undefined when it is missing or unusable. */
export function requestIdOf(value: unknown): string | undefined {
  if (typeof value === 'string') return REQUEST_ID.test(value) ? value : undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return undefined;
}

/** `/<service>/<event>` with plain segments (no params, no wildcard): the routes the envelope can reach. */
const ENVELOPE_PATH = /^\/([^/:*]+)\/([^/:*]+)$/;

/** service → event → route; the first route of a path wins, as in the router. */
export function envelopeTable(routes: readonly CompiledRoute[]): ReadonlyMap<string, ReadonlyMap<string, CompiledRoute>> {
  const table = new Map<string, Map<string, CompiledRoute>>();
  for (const route of routes) {
    const m = ENVELOPE_PATH.exec(route.config.path);
    if (m === null) continue;
    let events = table.get(m[1]);
    if (events === undefined) {
      events = new Map();
      table.set(m[1], events);
    }
    if (!events.has(m[2])) events.set(m[2], route);
  }
  return table;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The envelope as a JSON object, or a GatewayError('malformedBody'). */
function parseEnvelope(bytes: Uint8Array): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new GatewayError('malformedBody', { reason: 'expected a JSON envelope { service, event, request_id, body }' });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new GatewayError('malformedBody', { reason: 'expected a JSON envelope { service, event, request_id, body }' });
  }
  return doc as Record<string, unknown>;
}

/** Client headers that describe the envelope's own body and must not describe the inner one. */
const BODY_HEADERS = ['content-length', 'content-type', 'content-encoding', 'transfer-encoding'];

/**
 * Renders an error in the original's shape: exactly `{ code, message }`. A native upstream timeout
 * (10012) is the original's 10007 "Network error", with status 504 so monitoring can still tell it
 * from a refused connection (502).
 */
export function envelopeError(err: GatewayError, alwaysOk: boolean, requestId?: string): Response {
  const timeout = err.kind === 'upstreamTimeout';
  const code = timeout ? codes.networkError.code : err.code;
  const message = timeout ? codes.networkError.message : err.message;
  const headers = new Headers(err.headers);
  headers.set('content-type', 'application/json; charset=utf-8');
  if (requestId !== undefined) headers.set('x-request-id', requestId);
  return new Response(JSON.stringify({ code, message }), { status: alwaysOk ? 200 : err.status, headers });
}

/**
 * The envelope as Hono middleware, mounted before the routes. Requests to `config.path` are unwrapped
 * and dispatched; other paths answer 10002 when the envelope is exclusive, or go on to the routes.
 */
export function envelope(options: EnvelopeOptions): MiddlewareHandler {
  const { config, bodyLimit, alwaysOk, dispatch } = options;
  const table = envelopeTable(options.routes);

  async function unwrap(c: Context): Promise<Response> {
    const raw = c.req.raw;
    if (raw.method !== 'POST') throw new GatewayError('methodNotAllowed', undefined, { allow: 'POST' });
    checkDeclaredLength(raw, bodyLimit);
    const doc = parseEnvelope(await readBody(raw, bodyLimit));

    const events = typeof doc.service === 'string' ? table.get(doc.service) : undefined;
    if (events === undefined) throw new GatewayError('unknownService');
    const route = typeof doc.event === 'string' ? events.get(doc.event) : undefined;
    if (route === undefined) throw new GatewayError('unknownEvent');
    const requestId = requestIdOf(doc.request_id);
    if (requestId === undefined) throw new GatewayError('invalidRequestId');
    // A missing body is an empty one (the original checked `parameters` against nothing, so an event
    // without rules passed); anything but an object is refused.
    const body = doc.body === undefined ? {} : doc.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new GatewayError('invalidData');
    c.set('requestId', requestId);

    const headers = new Headers(raw.headers);
    for (const name of BODY_HEADERS) headers.delete(name);
    // A rule that sends the fields as a query string needs no body bytes; the others get JSON, as the original sent.
    const asQuery = route.config.forward?.bodyAsQuery === true;
    if (!asQuery) headers.set('content-type', 'application/json');
    const request = new Request(new URL(route.config.path, raw.url), {
      method: 'POST',
      headers,
      body: asQuery ? null : JSON.stringify(body),
    });
    const response = await dispatch(c, route, { request, body });
    // The original passed only a 200 through; anything else from the service was a network error.
    // Every 2xx counts as success here (a 201 is not a failure of the network).
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel().catch(() => {});
      throw new GatewayError('networkError');
    }
    if (alwaysOk && response.status !== 200) return new Response(response.body, { status: 200, headers: response.headers });
    return response;
  }

  return async function envelopeProtocol(c, next) {
    if (c.req.path !== config.path) {
      if (config.exclusive) return envelopeError(new GatewayError('unknownService'), alwaysOk, c.get('requestId'));
      return next();
    }
    try {
      return await unwrap(c);
    } catch (err) {
      if (err instanceof GatewayError) return envelopeError(err, alwaysOk, c.get('requestId'));
      throw err;
    }
  };
}
