import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Two cores: two test files at a time keeps sshd and chromium timings sane.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        // First: everything that needs no lab, so timing-sensitive tests
        // (drill accuracy, streaming) do not share two cores with lab installs.
        test: { name: 'main', include: ['test/**/*.test.ts'], exclude: ['test/lab/**'], sequence: { groupOrder: 0 } },
      },
      {
        // One local lab for all of test/lab: test/lab/lab.test.ts imports the
        // chapter suites in order (00-lab boots the lab, 99-teardown removes it).
        extends: true,
        test: { name: 'lab', include: ['test/lab/lab.test.ts'], sequence: { groupOrder: 1 } },
      },
    ],
  },
});
