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
}

/** The public view of a step that the page embeds (no absolute paths). */
export type StepView = Omit<Step, 'file'> & { file: string };

export interface Chapter {
  slug: string;
  file: string;
  frontmatter: ChapterFrontmatter;
  steps: Step[];
}

export interface Manifest {
  chapters: Chapter[];
}
