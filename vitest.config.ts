import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The default order (by past duration, else size), but the clean-copy test
 * first: it installs and builds the package twice (minutes), so started late
 * it alone would set the length of the run.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const longest = (f: TestSpecification): boolean => f.moduleId.endsWith('/test/deploy/clean-copy.test.ts');
    return [...sorted.filter(longest), ...sorted.filter((f) => !longest(f))];
  }
}

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most files wait on real processes, timers and sockets rather than the CPU: two files per core.
    maxWorkers: '200%',
    sequence: { sequencer: LongestFirst },
    // The JSON report lets .ci/run print a plain 'N passed, N failed' line.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest/results.json' },
  },
});
