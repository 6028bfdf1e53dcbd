/**
 * The process zoo as the unprivileged user nobody, --tracking auto (when the tests run as root and
 * runuser works): what an unprivileged user's run gets, nothing survives.
 */
import { chownSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { journalOf } from '../helpers/wrapper.js';
import { killAllPidfileSurvivors, nobodyRunner, runZoo, zooCommand } from '../helpers/zoo.js';
import { LIMITS } from '../helpers/zoo-suite.js';

const tag = ownedTag();
afterEach(killAllPidfileSurvivors);
const nobody = await nobodyRunner();

describe(`the zoo as the unprivileged user nobody, --tracking auto${nobody.skip ? ` (skipped: ${nobody.skip})` : ''}`, () => {
  for (const prog of ['double_fork_daemon', 'setpgid_escape', 'ignore_term', 'fork_storm']) {
    it(`${prog}: nothing survives`, async ({ annotate, skip }) => {
      if (nobody.skip !== undefined) return skip(nobody.skip);
      const { owner, python } = nobody;
      const stateDir = mkdtempSync(join(tmpdir(), 'scidex-nobody-'));
      chownSync(stateDir, owner.uid, owner.gid);
      const via = ['runuser', '-u', 'nobody', '--', process.execPath];
      const run = await runZoo(['--quiet', '--tracking', 'auto', ...LIMITS, '--', ...zooCommand(prog, [], python)], { tag, via, stateDir, owner });
      const record = journalOf(stateDir).runs.at(-1)!;
      await annotate(`nobody got --tracking ${record.tracking_backend}`);
      expect(run.exitCode, run.stderr).toBe(124);
      expect(run.survivors).toEqual([]);
      expect(run.taggedSurvivors).toEqual([]);
      expect(record).toMatchObject({ status: 'timeout', username: 'nobody' });
    });
  }
});
