#!/usr/bin/env node
// Entry point of the `drillbook` command. TypeScript sources run through tsx.
import { register } from 'tsx/esm/api';

register();
// `drillbook steps | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}
const { main } = await import('../server/cli/index.ts');
const code = await main(process.argv.slice(2));
process.exitCode ??= code;
// Writes to a pipe are asynchronous: let stdout and stderr hand everything
// to the kernel first (`steps --json | jq` would otherwise get a truncated
// document). An empty write's callback runs once the writes before it have.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', () => resolve()))));
// Pooled SSH connections and timers are closed by the commands; exit
// promptly even if a library keeps a handle open.
setImmediate(() => process.exit(process.exitCode));
