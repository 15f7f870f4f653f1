/**
 * The Drillbook server in a process of its own, so the benchmark can sample
 * its memory from /proc exactly as it samples the peers'. Started by
 * bench/cases/stream.ts with DRILLBOOK_CHAPTERS_DIR and DRILLBOOK_STATE_DIR
 * set; prints one JSON line ({port, tokenFile}) once it listens; closes on
 * SIGTERM.
 */
import { startServer } from '../../server/main.ts';

const inventory = process.argv[2];
if (!inventory) {
  process.stderr.write('usage: node --import tsx bench/children/server.ts INVENTORY\n');
  process.exit(2);
}
const server = await startServer({ port: 0, inventory, log: (m) => process.stderr.write(`${m}\n`) });
process.stdout.write(JSON.stringify({ port: server.port, tokenFile: server.tokenFile, pid: process.pid }) + '\n');
let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  server.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
