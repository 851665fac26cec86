// What an upstream may make of a path: the checks the fuzzers and regression tests apply.

/**
 * Resolves `path` the way a lenient upstream would: path parameters dropped from each segment
 * (Tomcat's `..;/`), %2e %2f %5c decoded (nginx decodes them before it resolves dot segments), `\`
 * taken as `/` (IIS), then RFC 3986 §5.2.4 dot-segment removal.
 */
export function resolveLikeUpstream(path: string): string {
  const decoded = path
    .split('/')
    .map((segment) => segment.replace(/;.*$/, ''))
    .join('/')
    .replace(/%2e/gi, '.')
    .replace(/%2f|%5c|\\/gi, '/');
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === '..') {
      if (out.length > 1) out.pop();
      if (last) out.push('');
    } else if (s === '.') {
      if (last) out.push('');
    } else out.push(s);
  }
  return out.join('/') || '/';
}

/** True when an upstream resolving `path` would land outside `prefix` (e.g. "/files/"). */
export function climbsOut(path: string, prefix: string): boolean {
  const resolved = resolveLikeUpstream(path);
  const bare = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return !(resolved === bare || resolved.startsWith(prefix) || (prefix === bare && resolved.startsWith(`${bare}/`)) || resolved === prefix);
}

/** The own property names and descriptors of Object.prototype, to compare before and after. */
export function prototypeSnapshot(): string[] {
  return Object.getOwnPropertyNames(Object.prototype)
    .concat(Object.getOwnPropertyNames(Array.prototype).map((n) => `Array.${n}`))
    .sort();
}
