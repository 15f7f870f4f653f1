/** The runbook model: what a step is once it has been read from MDX. */
import type { ChapterFrontmatter } from './schema.ts';

export const STEP_KINDS = { Step: 'deploy', Verify: 'verify', Break: 'break', Recover: 'recover' } as const;
export type StepComponent = keyof typeof STEP_KINDS;
export type StepKind = (typeof STEP_KINDS)[StepComponent];

export interface Expectation {
  /** Exit codes that count as success; default [0]. */
  exit: number[];
  /** A pattern stdout must match, as written (`/.../flags`). */
  stdout?: { source: string; flags: string };
}

export interface Step {
  /** Unique within its chapter. */
  id: string;
  /** `<chapter slug>/<id>`, unique in the book. */
  globalId: string;
  chapter: string;
  kind: StepKind;
  title: string;
  /** Target expression as written: host, group, comma list or `all`. */
  on: string;
  /** Host filter command (exit 0 = the step applies to that host). */
  where?: string;
  expect: Expectation;
  /** Extra attempts after the first failure. */
  retries: number;
  /** Pause between attempts, ms. */
  delayMs: number;
  /** Overall limit for the step on a host (all attempts), ms. */
  timeoutMs: number;
  /** Needs an explicit confirmation bound to the target inventory. */
  confirm: boolean;
  /** Needs something the local lab cannot give (real VMs); shown on the page, syntax-checked only. */
  needs?: 'vm';
  /** Script language of the code block (bash). */
  lang: string;
  /** The script exactly as written in the code block. */
  script: string;
  /** Variables the script and filter use as {{name}}. */
  vars: string[];
  /** Content hash: the page and the server must agree on it. */
  hash: string;
  /** Where it is written. */
  file: string;
  line: number;
  /** Id of the drill this step belongs to (it then runs as part of that drill). */
  drill?: string;
}

/** A command run repeatedly during a drill; its first output line names the backend that answered. */
export interface Probe {
  /** `local` (the machine running Drillbook) or a host/group of the lab (the first host is used). */
  from: string;
  intervalMs: number;
  /** Limit for one probe; a probe that takes longer counts as failed. */
  timeoutMs: number;
  script: string;
  vars: string[];
  line: number;
}

/**
 * A drill: measure what a fault does. Start the probe, run the break step,
 * wait for the recovery condition (a verify step with retry-until), keep
 * probing for the settle period, then run the recover step if any.
 */
export interface Drill {
  id: string;
  globalId: string;
  chapter: string;
  title: string;
  probe: Probe;
  /** Global ids of the drill's steps. */
  breakStep: string;
  verifyStep: string;
  recoverStep?: string;
  /** Probing before the fault, to know who served and that the service was up. */
  baselineMs: number;
  /** Probing after the recovery condition held. */
  settleMs: number;
  hash: string;
  file: string;
  line: number;
}

/** Live facts about the lab's nodes: a script run on each node printing key=value lines. */
export interface ClusterMapSpec {
  id: string;
  globalId: string;
  chapter: string;
  title: string;
  on: string;
  intervalMs: number;
  script: string;
  vars: string[];
  hash: string;
  file: string;
  line: number;
}

export interface Chapter {
  slug: string;
  file: string;
  frontmatter: ChapterFrontmatter;
  steps: Step[];
  drills: Drill[];
  maps: ClusterMapSpec[];
}

export interface Manifest {
  chapters: Chapter[];
}
