// Named regex patterns and the one compile step for every regex a config may carry.
import safeRegex from 'safe-regex2';

/**
 * The built-in patterns, by name. `email` and `password` are the original gateway's, byte for byte
 * (see seed/README.md), so configs ported from it keep their meaning.
 *
 * These are trusted and are NOT put through the backtracking heuristic below: safe-regex2 counts
 * any quantified group that contains a quantifier as "star height 2", so it flags `email`
 * (`((-\w+)|(\.\w+))*`) and `numeric` (`(\.\d+)?`). Both are unambiguous, which is what matters: every
 * iteration of `email`'s groups starts with `-` or `.`, which the `\w+` / `[A-Za-z0-9]+` before it cannot
 * match, and `numeric`'s group is optional and starts with `.`, which `\d+` cannot match. They match in
 * linear time (measured at 1 MB), and the field checks never hand any regex more than `max_length`
 * (default REGEX_INPUT_CAP) characters anyway. Patterns from config get no such exemption.
 */
export const builtinPatterns: Readonly<Record<string, string>> = Object.freeze({
  email: String.raw`^\w+((-\w+)|(\.\w+))*\@[A-Za-z0-9]+((\.|-)[A-Za-z0-9]+)*\.[A-Za-z]+$`,
  password: String.raw`^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)(?=.*[@$!%*?&])[A-Za-z\d@$!%*?&]{8,10}$`,
  uuid: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
  numeric: String.raw`^-?\d+(\.\d+)?$`,
  integer: String.raw`^-?\d+$`,
  alphanumeric: '^[A-Za-z0-9]+$',
  hex: '^[0-9a-fA-F]+$',
});

/** No regex of a field check ever sees more characters than this unless `max_length` says otherwise. */
export const REGEX_INPUT_CAP = 1024;

// Compiled once per process; a RegExp without the g/y flags keeps no state between `test` calls,
// so one instance is shared by every field that names the pattern.
const builtinCompiled = new Map<string, RegExp>(Object.entries(builtinPatterns).map(([name, source]) => [name, new RegExp(source)]));

/** The compiled built-in pattern of that name (for `format`), or undefined. */
export function builtinPattern(name: string): RegExp | undefined {
  return builtinCompiled.get(name);
}

// `/source/flags`; the source may itself contain slashes, so the last one ends it.
const INLINE = /^\/([\s\S]+)\/([a-z]*)$/;
// g and y make `test` stateful (it resumes at lastIndex), which would make a field pass every other call.
const STATEFUL_FLAGS = /[gy]/;
const LOOKBEHIND = /\(\?<[=!]/;

/** Quotes a pattern for a message as written (no JSON escaping of backslashes), without flooding it. */
function quote(spec: string): string {
  return `"${spec.length > 80 ? `${spec.slice(0, 77)}...` : spec}"`;
}

/**
 * Compiles a user regex written as `/source/flags` or as a bare source, checking it for catastrophic
 * backtracking. Returns the RegExp or an error message.
 */
function compileUserRegex(text: string, label: string): RegExp | string {
  const m = INLINE.exec(text);
  const source = m === null ? text : m[1];
  const flags = m === null ? '' : m[2];
  if (STATEFUL_FLAGS.test(flags)) return `${label}: flags "g" and "y" are not supported (a field check tests the whole value)`;
  let re: RegExp;
  try {
    re = new RegExp(source, flags);
  } catch (err) {
    return `${label} is invalid: ${(err as Error).message}`;
  }
  // safe-regex2's parser (ret) does not read lookbehind and then reports "unsafe"; say what really happened.
  if (LOOKBEHIND.test(source)) return `${label} uses lookbehind, which the backtracking check cannot analyse`;
  // The heuristic (star height, at most 25 quantifiers) is conservative: it also flags some linear
  // patterns such as `(\+\d+)?`. We keep it strict for config patterns and say how to comply.
  if (!safeRegex(source)) {
    return `${label} may backtrack catastrophically (a quantified group contains a quantifier, or more than 25 quantifiers)`;
  }
  return re;
}

/**
 * Compiles a field's `regex` setting. `spec` is a pattern name (looked up in `named`, then the
 * built-ins) or an inline regex written `/source/flags`. `named` values are written either way too,
 * `/source/flags` or a bare source, and are checked like inline ones: only built-ins are trusted.
 * Returns the RegExp, or an error message for the config loader.
 */
export function compilePattern(spec: string, named: Readonly<Record<string, string>> = {}): RegExp | string {
  if (spec.startsWith('/')) {
    if (!INLINE.test(spec)) return `regex ${quote(spec)} is not written as "/source/flags"`;
    return compileUserRegex(spec, `regex ${quote(spec)}`);
  }
  if (Object.hasOwn(named, spec)) return compileUserRegex(named[spec], `pattern ${quote(spec)} (${quote(named[spec])})`);
  const builtin = builtinCompiled.get(spec);
  if (builtin !== undefined) return builtin;
  const known = [...new Set([...Object.keys(named), ...builtinCompiled.keys()])].join(', ');
  return `unknown pattern ${quote(spec)} (known: ${known}; or write an inline one as "/source/flags")`;
}

/** Checks every user-named pattern once (even unused ones), for the config loader: `{ path: name, message }`. */
export function checkNamedPatterns(named: Readonly<Record<string, string>>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  for (const name of Object.keys(named)) {
    const result = compilePattern(name, named);
    if (typeof result === 'string') problems.push({ path: name, message: result });
  }
  return problems;
}
