// Config of request rules: parameter checks and IP allow/deny lists.
import * as z from 'zod';
import { nonEmptyString, nonNegativeInt } from '../config/types.ts';

/**
 * One field's rule. The original gateway's names (`mandatory`, `can_empty`, `max_length`,
 * `numeric`, `regex`) are kept as they were; the rest are what users of other gateways expect.
 */
export const fieldRuleSchema = z
  .object({
    type: z
      .enum(['string', 'integer', 'number', 'boolean', 'enum'], {
        error: 'expected one of string, integer, number, boolean, enum',
      })
      .optional(),
    mandatory: z.boolean({ error: 'expected true or false' }).optional().meta({ description: 'The field must be present and not null.' }),
    can_empty: z
      .boolean({ error: 'expected true or false' })
      .optional()
      .meta({ description: 'false: a blank (whitespace-only) value is refused; true: a blank value passes without further checks.' }),
    max_length: nonNegativeInt.optional().meta({ description: 'Most characters (code points); checked before any regex.' }),
    minLength: nonNegativeInt.optional(),
    numeric: z
      .boolean({ error: 'expected true or false' })
      .optional()
      .meta({ description: 'true: a number or a decimal string such as "-12.5".' }),
    regex: nonEmptyString.optional().meta({
      description:
        'A named pattern (email, password, uuid, ...) or an inline one written as "/source/flags". Only tested on values within max_length (1024 characters when unset).',
    }),
    format: z.enum(['email', 'uuid'], { error: 'expected one of email, uuid' }).optional(),
    enum: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .optional(),
    min: z.number({ error: 'expected a number' }).optional(),
    max: z.number({ error: 'expected a number' }).optional(),
  })
  .strict();

export type FieldRule = z.infer<typeof fieldRuleSchema>;

const fieldSet = z.record(z.string(), fieldRuleSchema);

export const paramsSchema = z
  .object({
    body: fieldSet.optional(),
    query: fieldSet.optional(),
    path: fieldSet.optional(),
    /** What to do with a field that has no rule: the original rejected it. */
    unknown: z.enum(['reject', 'allow'], { error: 'expected "reject" or "allow"' }).optional().meta({
      description:
        'Fields without a rule: the body rejects them unless "allow"; the query allows them unless "reject". An empty or absent rule set accepts anything.',
    }),
  })
  .strict();

export type ParamsConfig = z.infer<typeof paramsSchema>;

/**
 * Named patterns a field's `regex` may use besides the built-ins (see rules/patterns.ts). Values are
 * written "/source/flags" or as a bare source; each is checked for catastrophic backtracking at start-up.
 */
export const patternsSchema = z
  .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, { error: 'expected a pattern name of letters, digits, "_" or "-"' }), nonEmptyString)
  .meta({ description: 'Named regex patterns, e.g. { "sku": "/^[A-Z]{3}-\\d{4}$/" }, used as `"regex": "sku"`.' });

export type PatternsConfig = z.infer<typeof patternsSchema>;

export const ipRulesSchema = z
  .object({
    allow: z.array(nonEmptyString).optional().meta({ description: 'CIDRs or addresses; when set, only these may pass.' }),
    deny: z.array(nonEmptyString).optional().meta({ description: 'CIDRs or addresses that are refused (deny wins).' }),
  })
  .strict();

export type IpRulesConfig = z.infer<typeof ipRulesSchema>;
