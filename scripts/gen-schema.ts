// Writes schema/edgegate.schema.json from the zod schema, so editors and docs stay in step with it.
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../src/config/json-schema.ts';

const path = new URL('../schema/edgegate.schema.json', import.meta.url);
writeFileSync(path, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${path.pathname}\n`);
