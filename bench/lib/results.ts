/** bench/results/latest.json: the machine, the date and every figure of the latest run of each case. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Machine } from './machine.ts';
import type { CaseResult } from './model.ts';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS = path.join(BENCH_DIR, 'results', 'latest.json');

export interface ResultsFile {
  machine: Machine;
  updated: string;
  /** The command of the last run (a run with --only replaces only its cases). */
  command: string;
  tools: Record<string, string | undefined>;
  cases: Record<string, CaseResult>;
}

export function readResults(file = RESULTS): ResultsFile | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ResultsFile) : undefined;
}
