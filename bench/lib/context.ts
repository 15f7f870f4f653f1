/** What every case gets: options, a logger, the peers that are missing. */
import type { ToolName } from './deps.ts';

export interface BenchContext {
  rounds: number;
  /** Tools that could not be found or installed, with the reason. */
  missing: Map<ToolName, string>;
  log(s: string): void;
  progress(s: string): void;
}

/** The same command for every contender: trivial, prints a line, exits 0. */
export const ONE_LINER = 'echo "hello from $(uname -n) pid $$"';
