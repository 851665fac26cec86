// Reads a config file for the CLI; a missing or unparsable file is a named problem, not a stack trace.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../../src/config/load.ts';

export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${path}: is not valid JSON (${(err as Error).message})`]);
  }
}
