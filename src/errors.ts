// The one error type that crosses the HTTP boundary, and the table of codes clients can rely on.
// Codes 0 and 10001–10008, 99998 and 99999 are the original gateway's (see README "Error codes").

export const codes = {
  methodNotAllowed: { code: 10001, status: 405, message: 'Forbidden to other http methods' },
  unknownService: { code: 10002, status: 404, message: 'Invalid service endpoint' },
  invalidRequestId: { code: 10003, status: 400, message: 'Invalid request_id' },
  unknownEvent: { code: 10004, status: 404, message: 'Invalid event' },
  invalidData: { code: 10006, status: 422, message: 'Invalid data' },
  networkError: { code: 10007, status: 502, message: 'Network error' },
  noEndpoint: { code: 10008, status: 503, message: 'No service endpoint' },
  malformedBody: { code: 10009, status: 400, message: 'Malformed request' },
  forbidden: { code: 10010, status: 403, message: 'Forbidden' },
  payloadTooLarge: { code: 10011, status: 413, message: 'Payload too large' },
  upstreamTimeout: { code: 10012, status: 504, message: 'Upstream timeout' },
  storeUnavailable: { code: 10013, status: 503, message: 'Service unavailable' },
  headersTooLarge: { code: 10014, status: 431, message: 'Request header fields too large' },
  requestTimeout: { code: 10015, status: 408, message: 'Request timeout' },
  internal: { code: 10000, status: 500, message: 'Internal error' },
  overRateLimit: { code: 99998, status: 429, message: 'Over rate limit' },
  invalidCredential: { code: 99999, status: 401, message: 'Invalid credential to the service' },
} as const;

export type ErrorName = keyof typeof codes;

/** A failure with a stable numeric `code` and an HTTP `status`. Messages never carry secrets. */
export class GatewayError extends Error {
  readonly code: number;
  readonly status: number;
  readonly kind: ErrorName;
  readonly details?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(name: ErrorName, details?: Record<string, unknown>, headers?: Record<string, string>) {
    const entry = codes[name];
    super(entry.message);
    this.name = 'GatewayError';
    this.kind = name;
    this.code = entry.code;
    this.status = entry.status;
    this.details = details;
    this.headers = headers;
  }

  /** The JSON body clients see: `{ code, message, ...details }`. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

/** Thrown by a store when its backend fails or does not answer within the timeout. */
export class StoreError extends Error {
  readonly reason: 'timeout' | 'unavailable' | 'error';
  constructor(reason: StoreError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.reason = reason;
  }
}

/** Renders an error as the documented JSON response. */
export function errorResponse(err: GatewayError, extraHeaders?: HeadersInit): Response {
  const headers = new Headers(extraHeaders);
  headers.set('content-type', 'application/json; charset=utf-8');
  for (const [k, v] of Object.entries(err.headers ?? {})) headers.set(k, v);
  return new Response(JSON.stringify(err.toJSON()), { status: err.status, headers });
}
