/** What a transport does: run a bash script on a host and stream its output. Transports know nothing of steps. */
import type { InventoryHost } from '../inventory.ts';

/** Why a host could not run anything at all. */
export type ConnectFailure = 'unreachable' | 'auth-failed' | 'host-key-mismatch' | 'host-key-unknown';

export type ExecOutcome =
  | { kind: 'exit'; code: number }
  | { kind: 'signal'; signal: string }
  | { kind: 'cancelled'; remoteStopped: boolean }
  | { kind: 'connect-failed'; failure: ConnectFailure; message: string }
  | { kind: 'disconnected'; message: string };

export interface ExecIO {
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
  /** Aborting stops the remote process group and resolves with `cancelled`. */
  signal: AbortSignal;
}

export interface Transport {
  /** Run `script` with bash on `host`. Never throws for host problems: they are outcomes. */
  run(host: InventoryHost, script: string, io: ExecIO): Promise<ExecOutcome>;
  close(): Promise<void>;
}
