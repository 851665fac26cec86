// Figures of a run for SECURITY.md: each suite writes its numbers when EDGEGATE_FIGURES_DIR is set
// (scripts/security-figures.ts sets it, runs the suites, and rewrites the figures section).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function recordFigures(suite: string, figures: Record<string, unknown>): Promise<void> {
  const dir = process.env.EDGEGATE_FIGURES_DIR;
  if (dir === undefined || dir === '') return;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${suite}.json`), `${JSON.stringify({ suite, at: new Date().toISOString(), ...figures }, null, 2)}\n`);
}
