/** Run results: one verdict per host and one for the run, each with a readable message. */
import type { Step } from '../../src/runbook/types.ts';

export const VERDICTS = [
  'passed',
  'skipped',
  'failed',
  'expectation-failed',
  'retries-exhausted',
  'timeout',
  'cancelled',
  'unreachable',
  'auth-failed',
  'host-key-mismatch',
  'host-key-unknown',
  'disconnected',
] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface HostResult {
  host: string;
  address: string;
  verdict: Verdict;
  exitCode?: number;
  signal?: string;
  attempts: number;
  durationMs: number;
  message: string;
  /** Output of the last attempt, interleaved as received, secrets masked, tail-capped. */
  output: string;
  /** For cancel/timeout: whether the remote process group is confirmed gone. */
  remoteStopped?: boolean;
}

export interface RunResult {
  runId: string;
  step: Pick<Step, 'globalId' | 'kind' | 'title' | 'hash'>;
  inventory: string;
  verdict: Verdict;
  message: string;
  startedAt: string;
  durationMs: number;
  hosts: HostResult[];
}

/** Worst first: the run's verdict is the worst of its hosts. */
const SEVERITY: Verdict[] = ['cancelled', 'timeout', 'host-key-mismatch', 'host-key-unknown', 'auth-failed', 'unreachable', 'disconnected', 'retries-exhausted', 'expectation-failed', 'failed'];

export function overallVerdict(hosts: HostResult[]): Verdict {
  for (const v of SEVERITY) if (hosts.some((h) => h.verdict === v)) return v;
  if (hosts.some((h) => h.verdict === 'passed')) return 'passed';
  return 'failed';
}

export function isOk(v: Verdict): boolean {
  return v === 'passed' || v === 'skipped';
}
