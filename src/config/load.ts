// Validates a config document once, at start-up, and names every problem with its path.
import type { z } from 'zod';
import { type Config, configSchema } from './schema.ts';

export class ConfigError extends Error {
  /** Every problem, each as `path: expectation, received value`. */
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid config:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Formats a path like `upstreams.user.targets[1].weight`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out || '(root)';
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): { found: boolean; value?: unknown } {
  let cur: unknown = doc;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key as string)) return { found: false };
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return { found: true, value: cur };
}

function describe(value: unknown): string {
  const s = JSON.stringify(value);
  if (s === undefined) return String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Turns zod issues into one line per problem, with the received value when there is one.
 * `doc` is what was validated; `prefix` is where it sits in the whole config, for the printed path.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], doc: unknown, prefix: readonly PropertyKey[] = []): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0 && issue.message === 'Invalid input') {
      // Report the branch that got furthest rather than "invalid input".
      const best = issue.errors.reduce((a, b) => (b.length < a.length ? b : a));
      if (best.length > 0 && best.every((i) => i.path.length > 0)) {
        lines.push(
          ...formatIssues(
            best.map((i) => ({ ...i, path: [...issue.path, ...i.path] })),
            doc,
            prefix,
          ),
        );
        continue;
      }
    }
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatPath([...path, key])}: unknown field`);
      continue;
    }
    let message = issue.message.replace(/^Invalid input: /, '');
    const at = valueAt(doc, issue.path);
    // A type or union failure where nothing was written is a missing field; a custom check is not.
    const typeLike = issue.code === 'invalid_type' || issue.code === 'invalid_union';
    if (!at.found) message = typeLike && !message.endsWith('(missing)') ? `${message} (missing)` : message;
    else if (!message.includes('received')) message = `${message}, received ${describe(at.value)}`;
    lines.push(`${formatPath(path)}: ${message}`);
  }
  return [...new Set(lines)];
}

/** Validates `doc` and returns the config with defaults applied, or throws ConfigError with every problem. */
export function parseConfig(doc: unknown): Config {
  const result = configSchema.safeParse(doc);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, doc));
  return result.data;
}
