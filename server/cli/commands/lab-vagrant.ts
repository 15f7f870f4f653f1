/** `drillbook lab … --provider vagrant` (filled in with the Vagrant lab). */
import { UsageError } from '../../../src/runbook/errors.ts';

export async function vagrantCommand(action: string, _node: string | undefined, _values: Record<string, unknown>): Promise<number> {
  throw new UsageError(`lab ${action} --provider vagrant is not available yet`, '--provider');
}
