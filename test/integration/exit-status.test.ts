import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();

const run = (args: string[], stateDir?: string) => startWrapper(['--quiet', ...args], { tag, stateDir });

describe('exit status contract', () => {
  it('passes through 0 and N', async () => {
    expect((await run(['--', 'true'])).exitCode).toBe(0);
    expect((await run(['--', 'sh', '-c', 'exit 7'])).exitCode).toBe(7);
  });

  it('reports 128+S when the command dies of a signal', async () => {
    const stateDir = newStateDir();
    expect((await run(['--', 'sh', '-c', 'kill -KILL $$'], stateDir)).exitCode).toBe(137);
    const { runs } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'failed', signal: 'SIGKILL', exit_status: 137, exit_code: null });
  });

  it('returns 124 on timeout, the command status with --preserve-status', async () => {
    expect((await run(['--timeout', '300ms', '--grace', '1s', '--', 'sleep', '30'])).exitCode).toBe(124);
    expect((await run(['--timeout', '300ms', '--preserve-status', '--', 'sleep', '30'])).exitCode).toBe(143);
  });

  it('keeps a timeout longer than 24.8 days (beyond setTimeout range) instead of firing at once', async () => {
    expect((await run(['--timeout', '30d', '--', 'sleep', '0.5'])).exitCode).toBe(0);
  });

  // coreutils' tests/timeout/timeout.sh and timeout-parameters.sh: `.1` is a timeout, `1e-10000` is the smallest one (it
  // rounds up, never to "no limit"), and timeout-large-parameters.sh: a duration too long to represent is the longest.
  it('reads a duration as timeout(1) does: .1, an underflow as the smallest step, an overflow as the longest', async () => {
    expect((await run(['--timeout', '.1', '--grace', '1s', '--', 'sleep', '30'])).exitCode).toBe(124);
    expect((await run(['--timeout', '1e-10000', '--grace', '1s', '--', 'sleep', '30'])).exitCode).toBe(124);
    const stateDir = newStateDir();
    expect((await run(['--timeout', '1e600', '--', 'true'], stateDir)).exitCode).toBe(0);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'completed', timeout_ms: Number.MAX_SAFE_INTEGER });
  });

  it('returns 127 for a missing command and 126 for one that cannot be executed, and records it', async () => {
    const stateDir = newStateDir();
    expect((await run(['--', 'no-such-command-scidex'], stateDir)).exitCode).toBe(127);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'failed_to_start', exit_status: 127, pid: null });
    const notExecutable = join(mkdtempSync(join(tmpdir(), 'scidex-noexec-')), 'data.txt');
    writeFileSync(notExecutable, 'not a program\n', { mode: 0o644 });
    expect((await run(['--', notExecutable])).exitCode).toBe(126);
  });

  // E2BIG belongs here too, but an argument list too long for the command is too long for the wrapper first.
  it('returns 126, and records a failed start, for an exec(2) that Node refuses at once (ENOTDIR, ENAMETOOLONG)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'scidex-notdir-')), 'file');
    writeFileSync(file, '', { mode: 0o755 });
    for (const [command, errno] of [[[`${file}/x`], 'ENOTDIR'], [[`/${'n'.repeat(5000)}`], 'ENAMETOOLONG']] as const) {
      const stateDir = newStateDir();
      const result = await run(['--', ...command], stateDir);
      expect(result.exitCode, `${errno}: ${result.stderr}`).toBe(126);
      expect(result.stderr, errno).toContain(errno);
      const { runs, events } = journalOf(stateDir);
      expect(runs.at(-1), errno).toMatchObject({ status: 'failed_to_start', exit_status: 126, pid: null });
      expect(events.find((event) => event.kind === 'failed_to_start')?.detail, errno).toMatchObject({ errno, exit_status: 126 });
    }
  });

  it('passes stdout through untouched and never reads it', async () => {
    const result = await run(['--', 'sh', '-c', 'printf "a b\\n"; printf err >&2']);
    expect(result.stdout).toBe('a b');
    expect(result.stderr).toBe('err');
  });

  it('does not wait for a grandchild that holds stdout (only for its own tree rules)', async () => {
    const result = await run(['--orphans', 'kill', '--grace', '1s', '--', 'sh', '-c', 'sleep 30 & echo started']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('started');
  });
});
