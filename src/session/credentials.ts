// Reading the token from a request (Bearer, a header or a cookie) and writing identity headers upstream.
import { invalidCredential } from './tokens.ts';

export interface TokenSources {
  bearer: boolean;
  header?: string;
  cookie?: string;
}

/** A bearer token as RFC 6750 §2.1 allows it; a comma or space means two values were joined. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const BARE = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Every value of the cookie `name` in a Cookie header (RFC 6265 §5.4), unquoted. */
export function cookieValues(header: string | null, name: string): string[] {
  if (header === null) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.push(value);
  }
  return out;
}

/**
 * The one token of a request. Fails when none is present, when one source is duplicated or
 * malformed (two `Authorization` headers arrive joined by a comma), or when two sources disagree:
 * a request must not be able to choose which of two credentials the gateway believes.
 */
export function readToken(headers: Headers, sources: TokenSources): string {
  const found: string[] = [];
  if (sources.bearer) {
    const value = headers.get('authorization');
    if (value !== null) {
      const m = BEARER.exec(value.trim());
      if (m === null) throw invalidCredential('authorization-malformed');
      found.push(m[1]);
    }
  }
  if (sources.header !== undefined) {
    const value = headers.get(sources.header);
    if (value !== null) {
      const t = value.trim();
      if (!BARE.test(t)) throw invalidCredential('header-malformed');
      found.push(t);
    }
  }
  if (sources.cookie !== undefined) {
    const values = cookieValues(headers.get('cookie'), sources.cookie);
    if (values.length > 1) throw invalidCredential('cookie-duplicated');
    if (values.length === 1) {
      if (!BARE.test(values[0])) throw invalidCredential('cookie-malformed');
      found.push(values[0]);
    }
  }
  if (found.length === 0) throw invalidCredential('missing');
  if (found.some((t) => t !== found[0])) throw invalidCredential('conflicting');
  return found[0];
}

/** Visible ASCII and space: what a header value can carry as is. */
const PLAIN_VALUE = /^[\x20-\x7e]*$/;

/** A claim as a header value: strings as is (percent-encoded beyond ASCII), others as JSON. */
export function headerValue(claim: unknown): string | undefined {
  if (claim === undefined || claim === null) return undefined;
  const s = typeof claim === 'string' ? claim : JSON.stringify(claim);
  return PLAIN_VALUE.test(s) ? s.trim() : encodeURIComponent(s);
}

/** Sets `claim → header` on the upstream headers; a claim the token lacks leaves its header unset. */
export function setIdentityHeaders(
  target: Headers,
  mapping: ReadonlyArray<readonly [claim: string, header: string]>,
  claims: Record<string, unknown>,
): void {
  for (const [claim, header] of mapping) {
    const value = headerValue(claims[claim]);
    if (value === undefined) target.delete(header);
    else target.set(header, value);
  }
}
