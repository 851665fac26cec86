// Gateway processes for the soak: `node adapters/node/bin.js serve`, and their resident memory from /proc.
import { readFile } from 'node:fs/promises';

export { type GatewayProcess, serveProcess, stopProcess } from '../helpers/serve-process.ts';

/** Resident set size of a process in KiB, from /proc/<pid>/status (Linux). */
export async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
