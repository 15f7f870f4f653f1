/** Lab test files share one lab and build on each other: run them one at a time, in file-name order. */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export default class PathSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
  override async shard(files: TestSpecification[]): Promise<TestSpecification[]> {
    return files;
  }
}
