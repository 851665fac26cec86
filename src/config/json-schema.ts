// The JSON Schema of the config, generated from the zod schema (zod 4's toJSONSchema).
import * as z from 'zod';
import { configSchema } from './schema.ts';

export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'edgegate config',
  };
}
