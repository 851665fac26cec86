// Config of request rules: parameter checks and IP allow/deny lists.
import { z } from 'zod';
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
    mandatory: z.boolean({ error: 'expected true or false' }).optional(),
    can_empty: z.boolean({ error: 'expected true or false' }).optional(),
    max_length: nonNegativeInt.optional(),
    minLength: nonNegativeInt.optional(),
    numeric: z.boolean({ error: 'expected true or false' }).optional(),
    regex: nonEmptyString
      .optional()
      .meta({ description: 'A named pattern (email, password, uuid, ...) or an inline one written as "/source/flags".' }),
    format: z.enum(['email', 'uuid'], { error: 'expected one of email, uuid' }).optional(),
    enum: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1).optional(),
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
    unknown: z.enum(['reject', 'allow'], { error: 'expected "reject" or "allow"' }).optional(),
  })
  .strict();

export type ParamsConfig = z.infer<typeof paramsSchema>;

export const ipRulesSchema = z
  .object({
    allow: z.array(nonEmptyString).optional().meta({ description: 'CIDRs or addresses; when set, only these may pass.' }),
    deny: z.array(nonEmptyString).optional().meta({ description: 'CIDRs or addresses that are refused (deny wins).' }),
  })
  .strict();

export type IpRulesConfig = z.infer<typeof ipRulesSchema>;
