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
  const named = headers.get('connection');
  if (named !== null) {
    for (const name of named.split(',')) {
      const n = name.trim().toLowerCase();
      // "Connection: a b" names no header; deleting it would throw and turn the request into a 500.
      if (TOKEN.test(n)) headers.delete(n);
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The client's X-Request-Id when it is a sane token, else a fresh UUID. */
export function requestIdFor(request: Request): string {
  const given = request.headers.get('x-request-id');
  return given !== null && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

export interface ForwardInfo {
  ip: string;
  proto: string;
  host: string;
  requestId: string;
  /** Header names the gateway owns (identity headers): client-sent copies are removed. */
  reserved: readonly string[];
  /** Headers the gateway adds (identity). */
  extra: Headers;
}

/** Builds the headers sent upstream from the client's. The upstream's own Host comes from its URL. */
export function upstreamRequestHeaders(client: Headers, info: ForwardInfo): Headers {
  const h = new Headers(client);
  stripHopByHop(h);
  h.delete('host');
  h.delete('content-length'); // fetch sets it from the body it actually sends
  // The client's 100-continue was answered by the server in front of us; fetch cannot send it (undici throws).
  h.delete('expect');
  for (const name of info.reserved) h.delete(name);
  const prior = client.get('x-forwarded-for');
  h.set('x-forwarded-for', prior === null ? info.ip : `${prior}, ${info.ip}`);
  h.set('x-forwarded-proto', info.proto);
  h.set('x-forwarded-host', info.host);
  h.set('x-request-id', info.requestId);
  for (const [name, value] of info.extra) h.set(name, value);
  return h;
}

/** Headers of the upstream's response as the client gets them. */
export function clientResponseHeaders(upstream: Headers, requestId: string, extra: Headers): Headers {
  const h = new Headers(upstream);
  stripHopByHop(h);
  h.set('x-request-id', requestId);
  for (const [name, value] of extra) h.set(name, value);
  return h;
}
