#!/usr/bin/env node
// The whole test suite in one command: checks (and as root installs) the
// system packages the tests use, builds the site, runs vitest, and prints
// a closing "N passed, N failed" line.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

// What the tests need from the system, by the command that proves it is there.
const NEEDS = [
  { cmd: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { cmd: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  { cmd: '/usr/bin/chromium', pkg: 'chromium' },
  { cmd: '/usr/bin/shellcheck', pkg: 'shellcheck' },
  { cmd: '/usr/bin/pgrep', pkg: 'procps' },
  { cmd: '/usr/bin/curl', pkg: 'curl' },
  // The local lab (test/lab): nspawn nodes from a debootstrapped image and a local apt repository.
  { cmd: '/usr/bin/systemd-nspawn', pkg: 'systemd-container' },
  { cmd: '/usr/sbin/debootstrap', pkg: 'debootstrap' },
  { cmd: '/usr/bin/apt-ftparchive', pkg: 'apt-utils' },
  { cmd: '/usr/bin/vagrant', pkg: 'vagrant' },
];
const missing = NEEDS.filter((n) => !existsSync(n.cmd)).map((n) => n.pkg);
if (missing.length) {
  if (process.getuid?.() !== 0) {
    console.error(`missing system packages: ${missing.join(' ')}\n  install them: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`);
    process.exit(2);
  }
  console.log(`installing ${missing.join(' ')} (apt-get)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
}
if (process.getuid?.() !== 0) {
  console.error('the integration tests start real sshd processes and log in as a dedicated user: run the suite as root (as CI does)');
  process.exit(2);
}

// The end-to-end tests open the built site.
const { siteIsStale, buildSite } = await import('../server/cli/commands/serve.ts');
if (siteIsStale(root)) buildSite(root);

// Types are part of the contract between the extractor, the server and the page.
console.log('type-checking (tsc --noEmit)…');
const tsc = spawnSync('npx', ['tsc', '--noEmit'], { stdio: 'inherit' });

mkdirSync('test-results', { recursive: true });
const report = path.join('test-results', 'vitest.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const r = spawnSync('npx', args, { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: process.env.CI ? '0' : process.env.FORCE_COLOR } });

let passed = 0;
let failed = 0;
if (existsSync(report)) {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests ?? 0;
  failed = (json.numFailedTests ?? 0) + (json.numFailedTestSuites && !json.numFailedTests ? json.numFailedTestSuites : 0);
}
if (r.status !== 0 && failed === 0) failed = 1;
if (tsc.status === 0) passed += 1;
else failed += 1;
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(r.status === 0 && tsc.status === 0 ? 0 : 1);
