/**
 * The probe loop of a drill, run on the probing host as one script: it runs
 * the author's probe every interval (each limited by its timeout) and prints
 * one line per probe with the start and end times from that host's clock
 * (bash's EPOCHREALTIME, no fork), the exit code and the first output line
 * (which backend answered, when the probe can tell).
 */
import type { Drill, Step } from '../../src/runbook/types.ts';

export function probeLoopScript(userProbe: string, intervalMs: number, timeoutMs: number): string {
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  return `set +e
__drillbook_probe() {
${userProbe}
}
export -f __drillbook_probe
__interval=${intervalMs * 1000}
printf 'S %s\\n' "$EPOCHREALTIME"
__next=\${EPOCHREALTIME/./}
while :; do
  __t0=$EPOCHREALTIME
  __out=$(timeout -k 0.5 ${secs(timeoutMs)} bash -c __drillbook_probe 2>/dev/null </dev/null)
  __rc=$?
  __t1=$EPOCHREALTIME
  __out=\${__out%%$'\\n'*}
  printf 'P %s %s %d %s\\n' "$__t0" "$__t1" "$__rc" "\${__out:0:200}"
  __next=$((__next + __interval))
  __now=\${EPOCHREALTIME/./}
  if (( __next > __now )); then
    __d=$((__next - __now))
    sleep "$((__d / 1000000)).$(printf '%06d' $((__d % 1000000)))"
  else
    __next=$__now
  fi
done`;
}

/** The probe as a step, so it goes through the same planning (variables, targets) as every step. */
export function probeAsStep(drill: Drill): Step {
  return {
    id: `${drill.id}--probe`,
    globalId: `${drill.globalId}--probe`,
    chapter: drill.chapter,
    kind: 'verify',
    title: `Probe of ${drill.title}`,
    on: drill.probe.from,
    expect: { exit: [0] },
    retries: 0,
    delayMs: 1000,
    timeoutMs: 24 * 3_600_000,
    confirm: false,
    lang: 'bash',
    script: probeLoopScript(drill.probe.script, drill.probe.intervalMs, drill.probe.timeoutMs),
    vars: drill.probe.vars,
    hash: drill.hash,
    file: drill.file,
    line: drill.probe.line,
  };
}

export interface RawSample {
  /** Probe start and end on the probing host's clock, ms since the epoch. */
  t0: number;
  t1: number;
  rc: number;
  out: string;
}

/** Parse the loop's output lines; returns samples and the remaining partial line. */
export function parseProbeLines(buffer: string): { samples: RawSample[]; rest: string } {
  const lines = buffer.split('\n');
  const rest = lines.pop() ?? '';
  const samples: RawSample[] = [];
  for (const line of lines) {
    const m = /^P (\d+)[.,](\d{6}) (\d+)[.,](\d{6}) (\d+) ?(.*)$/.exec(line);
    if (!m) continue;
    samples.push({ t0: Number(m[1]) * 1000 + Number(m[2]) / 1000, t1: Number(m[3]) * 1000 + Number(m[4]) / 1000, rc: Number(m[5]), out: m[6].trim() });
  }
  return { samples, rest };
}
