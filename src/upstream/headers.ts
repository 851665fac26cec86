// Header hygiene for proxying: hop-by-hop removal (RFC 9110 §7.6.1) and the X-Forwarded-* set.

/** Connection-specific headers that a proxy must not forward. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** RFC 9110 §5.6.2 token: what a header name may be. Headers.delete throws on anything else. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** Removes hop-by-hop headers, including any the Connection header names. */
export function stripHopByHop(headers: Headers): void {
  const named = connectionNamed(headers);
  if (named !== undefined) for (const n of named) headers.delete(n);
  for (const name of HOP_BY_HOP) headers.delete(name);
}

/** The header names a Connection header lists (lower case), or undefined when there are none. */
function connectionNamed(headers: Headers): Set<string> | undefined {
  const connection = headers.get('connection');
  if (connection === null) return undefined;
  let named: Set<string> | undefined;
  for (const name of connection.split(',')) {
    const n = name.trim().toLowerCase();
    // "Connection: a b" names no header; deleting it would throw and turn the request into a 500.
    if (!TOKEN.test(n)) continue;
    named ??= new Set();
    named.add(n);
  }
  return named;
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The client's X-Request-Id when it is a sane token, else a fresh UUID. */
export function requestIdFor(request: Request): string {
  const given = request.headers.get('x-request-id');
  return given !== null && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

export interface ForwardInfo {
  /** The address the request came from (this hop's peer): appended to X-Forwarded-For. */
  ip: string;
  /**
   * Whether that peer is one of `server.trustProxy`. Only then are the client's X-Forwarded-For chain
   * and its other client-address headers passed on; from anyone else they are spoofable, and an
   * upstream reading the left-most X-Forwarded-For entry (Express's `trust proxy`) would believe them.
   */
  trusted: boolean;
  proto: string;
  host: string;
  requestId: string;
  /** Header names the gateway owns (identity headers): client-sent copies are removed. */
  reserved: readonly string[];
  /** Headers the gateway adds (identity). */
  extra: Headers;
}

/** Client-address headers only a trusted proxy may set; dropped from anyone else. */
const CLIENT_ADDRESS = new Set(['forwarded', 'x-real-ip', 'true-client-ip', 'x-client-ip', 'x-forwarded-port', 'x-forwarded-prefix']);

/**
 * Headers that make some upstreams act on another path or method than the one the gateway routed
 * (IIS and Symfony read X-Original-URL; Express's method-override, Rails and others the method ones):
 * from a client they would undo the route's path and method rules, so they never go upstream.
 */
const ROUTING_OVERRIDE = new Set(['x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override']);

/** Request headers the gateway sets itself, replacing the client's. */
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']);

/** The reserved names as a lower-case set, built once per list (the gateway passes the same one each time). */
const reservedSets = new WeakMap<readonly string[], Set<string>>();
function reservedSet(reserved: readonly string[]): Set<string> | undefined {
  if (reserved.length === 0) return undefined;
  let set = reservedSets.get(reserved);
  if (set === undefined) {
    set = new Set(reserved.map((r) => r.toLowerCase()));
    reservedSets.set(reserved, set);
  }
  return set;
}

/**
 * Builds the headers sent upstream from the client's, as name/value pairs (a HeadersInit): one pass
 * over the client's headers instead of a copy and a dozen deletions. The upstream's own Host comes
 * from its URL; Content-Length from the body fetch actually sends; the client's 100-continue was
 * answered by the server in front of us, and fetch cannot send it (undici throws).
 */
export function upstreamRequestHeaders(client: Headers, info: ForwardInfo): [string, string][] {
  let named = connectionNamed(client);
  const reserved = reservedSet(info.reserved);
  const extra: [string, string][] = [];
  for (const [name, value] of info.extra) {
    extra.push([name, value]);
    named ??= new Set();
    named.add(name);
  }
  const out: [string, string][] = [];
  client.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || FORWARDED.has(name) || name === 'host' || name === 'content-length' || name === 'expect') return;
    if (named?.has(name) || reserved?.has(name) || ROUTING_OVERRIDE.has(name) || (!info.trusted && CLIENT_ADDRESS.has(name))) return;
    out.push([name, value]);
  });
  const prior = info.trusted ? client.get('x-forwarded-for') : null;
  out.push(
    ['x-forwarded-for', prior === null ? info.ip : `${prior}, ${info.ip}`],
    ['x-forwarded-proto', info.proto],
    ['x-forwarded-host', info.host],
    ['x-request-id', info.requestId],
  );
  for (const pair of extra) out.push(pair);
  return out;
}

/**
 * Headers of the upstream's response as the client gets them: a plain record built in one pass (no
 * Headers copy to fill, strip and read back; the Node server writes a record as is). A reply with
 * Set-Cookie keeps a Headers object, which is the only thing that holds several of them apart.
 */
export function clientResponseHeaders(upstream: Headers, requestId: string, extra: Headers): HeadersInit {
  if (upstream.has('set-cookie') || extra.has('set-cookie')) {
    const h = new Headers(upstream);
    stripHopByHop(h);
    h.set('x-request-id', requestId);
    for (const [name, value] of extra) h.set(name, value);
    return h;
  }
  let named = connectionNamed(upstream);
  // No prototype: a header named "__proto__" is one more own key, not a prototype change.
  const out: Record<string, string> = Object.create(null);
  upstream.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) && named?.has(name) !== true) out[name] = value;
  });
  out['x-request-id'] = requestId;
  extra.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}
