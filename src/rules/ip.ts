// IPv4/IPv6 addresses and CIDR lists: parsed once into 32-bit words, matched per request with integer masks.

/**
 * A parsed address. `words` is the 128-bit address as four unsigned 32-bit words; an IPv4 address is
 * held as its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`), so `words[3]` is the IPv4 value. `v` is 4 for
 * IPv4 and for IPv4-mapped IPv6 (`::ffff:1.2.3.4` is the IPv4 client 1.2.3.4), else 6.
 */
export interface ParsedIp {
  v: 4 | 6;
  words: [number, number, number, number];
}

export type IpList = { problems: string[] } | { match(ip: string): boolean };
export type IpRules = { problems: string[] } | { check(ip: string): boolean };

/** Longer text is never an address (45 characters plus a zone id), so the parser need not scan it. */
const MAX_TEXT = 100;

// The request path parses into these instead of allocating: parsing is synchronous, so no two callers
// can interleave.
const SCRATCH = new Uint32Array(4);
const GROUPS = new Uint16Array(8);

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Dotted-quad IPv4 in s[i, end), or -1. Exactly four decimal parts; a leading zero is refused because
 * inet_aton reads "010" as octal 8, and an address that means different things to different parsers
 * must not reach an allow list.
 */
function parseV4(s: string, i: number, end: number): number {
  let value = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= end || s.charCodeAt(i) !== 46) return -1;
      i++;
    }
    const first = i;
    let octet = 0;
    while (i < end && i - first < 4 && isDigit(s.charCodeAt(i))) octet = octet * 10 + s.charCodeAt(i++) - 48;
    const digits = i - first;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && s.charCodeAt(first) === 48)) return -1;
    value = value * 256 + octet;
  }
  return i === end ? value : -1;
}

/** RFC 4291 §2.2 text in s[i, end) (with `::` and an optional dotted IPv4 tail) into `out`; false if invalid. */
function parseV6(s: string, i: number, end: number, out: Uint32Array): boolean {
  let n = 0; // groups read
  let gap = -1; // index of the group where `::` stands
  if (s.charCodeAt(i) === 58) {
    if (i + 1 >= end || s.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (n === 8) return false;
    const first = i;
    let group = 0;
    while (i < end && i - first < 5) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      group = group * 16 + h;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      // An IPv4 tail fills the last two groups and ends the address.
      if (n > 6) return false;
      const v4 = parseV4(s, first, end);
      if (v4 < 0) return false;
      GROUPS[n++] = v4 >>> 16;
      GROUPS[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    const digits = i - first;
    if (digits === 0 || digits > 4) return false;
    GROUPS[n++] = group;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false; // a single trailing ":"
    }
  }
  // `::` stands for one or more zero groups; without it all eight must be there.
  if (gap < 0 ? n !== 8 : n > 7) return false;
  const zeros = 8 - n;
  for (let w = 0; w < 4; w++) {
    let word = 0;
    for (let k = 2 * w; k < 2 * w + 2; k++) {
      const g = gap < 0 || k < gap ? GROUPS[k] : k < gap + zeros ? 0 : GROUPS[k - zeros];
      word = word * 65536 + g;
    }
    out[w] = word;
  }
  return true;
}

/** Parses into `out`; returns 4 (IPv4 or IPv4-mapped), 6, or 0 when `s` is not an address. */
function parseInto(s: string, out: Uint32Array): 0 | 4 | 6 {
  let end = s.length;
  if (end === 0 || end > MAX_TEXT) return 0;
  if (s.indexOf(':') < 0) {
    const v4 = parseV4(s, 0, end);
    if (v4 < 0) return 0;
    out[0] = 0;
    out[1] = 0;
    out[2] = 0xffff;
    out[3] = v4;
    return 4;
  }
  // A zone id (`fe80::1%eth0`) says which interface, not which host: it plays no part in matching.
  const zone = s.indexOf('%');
  if (zone >= 0) {
    if (zone === end - 1) return 0;
    end = zone;
  }
  if (!parseV6(s, 0, end, out)) return 0;
  return out[0] === 0 && out[1] === 0 && out[2] === 0xffff ? 4 : 6;
}

/** Parses an IPv4 or IPv6 address (zone id stripped); undefined when `s` is not one. */
export function parseIp(s: string): ParsedIp | undefined {
  const v = parseInto(s, SCRATCH);
  if (v === 0) return undefined;
  return { v, words: [SCRATCH[0], SCRATCH[1], SCRATCH[2], SCRATCH[3]] };
}

/** Canonical text (RFC 5952) of a parsed address, for messages. */
function formatIp(v: 4 | 6, words: ArrayLike<number>): string {
  const a = words[3];
  const dotted = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  if (v === 4) return dotted;
  if (words[0] === 0 && words[1] === 0 && words[2] >>> 0 === 0xffff) return `::ffff:${dotted}`;
  const groups: number[] = [];
  for (let w = 0; w < 4; w++) groups.push(words[w] >>> 16, words[w] & 0xffff);
  // The longest run of two or more zero groups becomes "::" (the first, on a tie).
  let best = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && groups[e] === 0) e++;
    if (e - k > bestLen) {
      best = k;
      bestLen = e - k;
    }
    k = e;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** 32-bit masks of a prefix length over the four words (as signed ints, to compare with `&` results). */
function masksOf(prefix: number): [number, number, number, number] {
  const m: [number, number, number, number] = [0, 0, 0, 0];
  for (let w = 0; w < 4; w++) {
    const bits = Math.min(32, Math.max(0, prefix - 32 * w));
    m[w] = bits === 0 ? 0 : bits === 32 ? -1 : (-1 << (32 - bits)) | 0;
  }
  return m;
}

interface Cidr {
  v: 4 | 6;
  /** Prefix length over the 128-bit form (an IPv4 /8 is /104 there). */
  prefix: number;
  net: [number, number, number, number];
  mask: [number, number, number, number];
}

const PREFIX = /^(0|[1-9]\d{0,2})$/;

/** Parses a list entry (an address or a CIDR) or returns the problem. */
function parseCidr(entry: string): Cidr | string {
  const invalid = `"${entry}" is not a valid address or CIDR`;
  const slash = entry.indexOf('/');
  if (slash !== entry.lastIndexOf('/')) return invalid;
  const text = slash < 0 ? entry : entry.slice(0, slash);
  // A zone id makes no sense in a list (it names a local interface), so it is refused, not ignored.
  if (text.includes('%')) return invalid;
  const words = new Uint32Array(4);
  const family = parseInto(text, words);
  if (family === 0) return invalid;
  const v6Text = text.includes(':');
  const width = v6Text ? 128 : 32;
  let prefix = width;
  if (slash >= 0) {
    const p = entry.slice(slash + 1);
    if (!PREFIX.test(p) || Number(p) > width) return invalid;
    prefix = Number(p);
  }
  // Held over the 128-bit form; IPv4 text is already mapped, so its prefix moves up by 96.
  const prefix128 = v6Text ? prefix : prefix + 96;
  // An entry is an IPv4 one when it lies inside ::ffff:0:0/96, however it is written. A wider IPv6
  // entry (`::/0`) covers IPv6 clients only: write 0.0.0.0/0 as well to cover everyone.
  const v: 4 | 6 = family === 4 && prefix128 >= 96 ? 4 : 6;
  const mask = masksOf(prefix128);
  const net: [number, number, number, number] = [0, 0, 0, 0];
  let hostBits = false;
  for (let w = 0; w < 4; w++) {
    net[w] = words[w] & mask[w];
    if ((words[w] | 0) !== net[w]) hostBits = true;
  }
  if (hostBits) {
    // Usually a typo or a misunderstanding; say what the entry would really cover.
    const shown = v === 4 && !v6Text ? `${formatIp(4, net)}/${prefix}` : `${formatIp(6, net)}/${prefix}`;
    return `"${entry}" has bits set after the prefix length (did you mean "${shown}"?)`;
  }
  return { v, prefix: prefix128, net, mask };
}

/** The matcher of a compiled list, over an address already parsed into SCRATCH. */
type ParsedMatch = (family: 4 | 6) => boolean;

function buildMatcher(cidrs: readonly Cidr[]): ParsedMatch {
  const v4 = cidrs.filter((c) => c.v === 4);
  const v6 = cidrs.filter((c) => c.v === 6);
  const all4 = v4.some((c) => c.prefix === 96);
  const all6 = v6.some((c) => c.prefix === 0);
  // Flat typed arrays: one linear scan of integers per request, no objects, no regex.
  const nets4 = Int32Array.from(v4, (c) => c.net[3]);
  const masks4 = Int32Array.from(v4, (c) => c.mask[3]);
  const nets6 = Int32Array.from(v6.flatMap((c) => c.net));
  const masks6 = Int32Array.from(v6.flatMap((c) => c.mask));
  const n4 = nets4.length;
  const n6 = nets6.length;
  return (family) => {
    if (family === 4) {
      if (all4) return true;
      const a = SCRATCH[3] | 0;
      for (let i = 0; i < n4; i++) if ((a & masks4[i]) === nets4[i]) return true;
      return false;
    }
    if (all6) return true;
    const w0 = SCRATCH[0] | 0;
    const w1 = SCRATCH[1] | 0;
    const w2 = SCRATCH[2] | 0;
    const w3 = SCRATCH[3] | 0;
    for (let j = 0; j < n6; j += 4) {
      if (
        (w0 & masks6[j]) === nets6[j] &&
        (w1 & masks6[j + 1]) === nets6[j + 1] &&
        (w2 & masks6[j + 2]) === nets6[j + 2] &&
        (w3 & masks6[j + 3]) === nets6[j + 3]
      ) {
        return true;
      }
    }
    return false;
  };
}

function compileEntries(entries: readonly string[], label: string, problems: string[]): ParsedMatch {
  const cidrs: Cidr[] = [];
  for (const entry of entries) {
    const c = parseCidr(entry);
    if (typeof c === 'string') problems.push(`${label}${c}`);
    else cidrs.push(c);
  }
  return buildMatcher(cidrs);
}

/**
 * Compiles addresses and CIDRs (`10.0.0.0/8`, `2001:db8::/32`, `::ffff:10.0.0.0/104`, `192.0.2.7`)
 * into a matcher. O(entries) integer compares per call, no allocation. An unparseable `ip` never matches.
 */
export function compileIpList(entries: readonly string[]): IpList {
  const problems: string[] = [];
  const matches = compileEntries(entries, '', problems);
  if (problems.length > 0) return { problems };
  return {
    match(ip: string): boolean {
      const family = parseInto(ip, SCRATCH);
      return family !== 0 && matches(family);
    },
  };
}

/**
 * Compiles allow/deny lists into `check(ip)`, true when the client may pass. Deny wins; when `allow`
 * is non-empty only addresses it covers pass.
 *
 * A client address that does not parse (e.g. "unknown", when a runtime gives none) is refused when an
 * allow list exists: it cannot be shown to be on it. With a deny list only, it passes: no entry can
 * match it, and a deny list names known-bad clients rather than a boundary. Producing a real address
 * is the adapter's job (and trusted-proxy handling's), not this check's.
 */
export function compileIpRules(rules: { allow?: readonly string[]; deny?: readonly string[] }): IpRules {
  const problems: string[] = [];
  const allow = rules.allow ?? [];
  const deny = rules.deny ?? [];
  const allows = compileEntries(allow, 'allow entry ', problems);
  const denies = compileEntries(deny, 'deny entry ', problems);
  if (problems.length > 0) return { problems };
  const hasAllow = allow.length > 0;
  const hasDeny = deny.length > 0;
  if (!hasAllow && !hasDeny) return { check: () => true };
  return {
    check(ip: string): boolean {
      const family = parseInto(ip, SCRATCH);
      if (family === 0) return !hasAllow;
      if (hasDeny && denies(family)) return false;
      return !hasAllow || allows(family);
    },
  };
}
