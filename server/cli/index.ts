/** The `drillbook` command. A thin entry: parse, then lazy-load the command. */
import { DrillbookError } from '../../src/runbook/errors.ts';
import { parseCli } from './options.ts';
import { c } from './render.ts';

export async function main(argv: string[]): Promise<number> {
  let debug = argv.includes('--debug');
  const ctl = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(c.yellow('\ncancelling… (Ctrl-C again to quit at once)\n'));
    ctl.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', () => ctl.abort());
  try {
    const parsed = parseCli(argv);
    if (parsed.kind === 'help') {
      process.stdout.write(parsed.text + '\n');
      return 0;
    }
    debug = !!parsed.values.debug;
    switch (parsed.command) {
      case 'run':
        return await (await import('./commands/run.ts')).runCommand(parsed.args, parsed.values, ctl.signal);
      case 'steps':
        return (await import('./commands/steps.ts')).stepsCommand(parsed.args, parsed.values);
      case 'drill':
        return await (await import('./commands/drill.ts')).drillCommand(parsed.args, parsed.values, ctl.signal);
      case 'history':
        return (await import('./commands/history.ts')).historyCommand(parsed.args, parsed.values);
      case 'lab':
        return await (await import('./commands/lab.ts')).labCommand(parsed.args, parsed.values);
      case 'open':
        return (await import('./commands/serve.ts')).openCommand(parsed.values);
      case 'serve':
        return await (await import('./commands/serve.ts')).serveCommand(parsed.values, ctl.signal);
    }
    return 2;
  } catch (e) {
    if (e instanceof DrillbookError) {
      process.stderr.write(c.red(e.format()) + '\n');
      if (debug) process.stderr.write(`${e.stack}\n`);
      return 2;
    }
    process.stderr.write(c.red(`error[internal]: ${(e as Error).message}`) + '\n');
    if (debug || !(e instanceof Error)) process.stderr.write(`${(e as Error).stack ?? e}\n`);
    else process.stderr.write(c.dim('  run again with --debug for the stack trace\n'));
    return 2;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
