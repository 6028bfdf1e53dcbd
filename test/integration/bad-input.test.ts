import { chmodSync, chownSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { execa } from 'execa';
import { BIN, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();

const marker = () => join(mkdtempSync(join(tmpdir(), 'scidex-marker-')), 'spawned');

describe('bad input: one line, exit status 125, nothing spawned', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown option', ['--no-such-option'], /Unknown argument/],
    ['bad duration', ['--timeout', '5 parsecs'], /invalid --timeout '5 parsecs'/],
    ['duration split in two words', ['--timeout', '5', 'parsecs'], /unexpected argument 'parsecs'/],
    ['negative size', ['--memory-limit', '-1GiB'], /invalid --memory-limit/],
    ['empty size', ['--memory-limit', ''], /invalid --memory-limit|Not enough arguments/],
    ['negative grace', ['--grace', '-1'], /invalid --grace/],
    ['bad orphan policy', ['--orphans', 'adopt'], /invalid --orphans/],
    ['bad heartbeat interval', ['--heartbeat-interval', 'often'], /invalid --heartbeat-interval 'often'/],
    ['bad sample interval', ['--sample-interval', '-5s'], /invalid --sample-interval/],
    ['bad journal retention', ['--journal-retention', 'forever'], /invalid --journal-retention 'forever'/],
    ['bad signal', ['--kill-signal', 'SIGFOO'], /invalid --kill-signal/],
    ['unknown tracking backend', ['--tracking', 'ptrace'], /invalid --tracking 'ptrace': expected auto, cgroup, subreaper, pgroup/],
    ['long analysis id', ['--analysis-id', 'a'.repeat(257)], /at most 256/],
    ['long analysis id in characters, not UTF-16 units', ['--analysis-id', '🧪'.repeat(257)], /257 characters, at most 256/],
    ['grace longer than a timer keeps', ['--grace', '30d'], /invalid --grace '30d': at most/],
    ['a date for a duration', ['--timeout', '2026-11-21'], /invalid --timeout '2026-11-21'/],
    ['control characters in analysis id', ['--analysis-id', 'a\nb'], /control characters/],
    ['malformed database URL', ['--database-url', 'mysql://x'], /invalid database URL/],
    // mkdir(2) says ENOENT there although /proc/self exists; Node's recursive mkdir loops on it.
    ['state directory under /proc', ['--state-dir', '/proc/self/scidex'], /state directory '\/proc\/self\/scidex' cannot be written \(ENOENT\)/],
    ['state directory that is a file', ['--state-dir', '/etc/hostname'], /state directory '\/etc\/hostname' cannot be written \(ENOTDIR\)/],
    ['malformed database URL', ['--database-url', 'postgresql://u:secret@host:notaport/db'], /invalid database URL/],
    ['a size past what PostgreSQL keeps', ['--memory-limit', '9EiB'], /invalid --memory-limit '9EiB': at most/],
    // Too long to represent is the longest for --timeout, as in timeout(1); past a timer's range for the others.
    ['a duration past what a timer keeps', ['--grace', '1e600'], /invalid --grace '1e600': at most/],
    // timeout(1)'s own cases (coreutils tests/timeout/timeout-parameters.sh): an underflow keeps its sign, units are case-sensitive.
    ['a negative duration too small to represent', ['--timeout=-1e-400'], /invalid --timeout '-1e-400'/],
    ['an upper-case unit', ['--timeout', '42D'], /invalid --timeout '42D'/],
    // The input is echoed with its control characters written out: no ESC reaches the terminal, no second line.
    ['an escape sequence in a duration', ['--timeout', '5\x1b[31m'], /invalid --timeout '5\\x1b\[31m'/],
    ['a newline in a stray word', ['--timeout', '5', 'min\nutes'], /unexpected argument 'min\\nutes'/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const file = marker();
      const result = await startWrapper([...args, '--', 'touch', file], { tag });
      expect(result.exitCode).toBe(125);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/secret|\n\s+at /);
      expect(result.stderr).not.toContain('\x1b');
      expect(existsSync(file)).toBe(false);
    });
  }

  it('scidex-watchdog echoes bad input with its control characters written out', async () => {
    const result = await execa(BIN.replace(/scidex-run$/, 'scidex-watchdog'), ['runs', '--since', 'x\x1b[2J\ny'], { reject: false });
    expect(result.exitCode).toBe(125);
    expect(result.stderr).toContain("'x\\x1b[2J\\ny'");
    expect(result.stderr).not.toContain('\x1b');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a flag variable that is neither on nor off', async () => {
    const file = marker();
    const result = await startWrapper(['--', 'touch', file], { tag, env: { SCIDEX_RUN_PRESERVE_STATUS: 'maybe' } });
    expect(result.exitCode).toBe(125);
    expect(result.stderr.trim()).toBe("scidex-run: invalid SCIDEX_RUN_PRESERVE_STATUS 'maybe': expected 1, true, yes, on, or 0, false, no, off");
    expect(existsSync(file)).toBe(false);
  });

  it('a stray SCIDEX_RUN_EXPLAIN_TRACKING in the environment does not turn the run into a report', async () => {
    const file = marker();
    const result = await startWrapper(['--quiet', '--', 'touch', file], { tag, env: { SCIDEX_RUN_EXPLAIN_TRACKING: '1' } });
    expect(result.exitCode).toBe(0);
    expect(existsSync(file)).toBe(true);
  });

  it('missing command after --', async () => {
    for (const args of [[], ['--'], ['--timeout', '1s', '--']]) {
      const result = await startWrapper(args, { tag });
      expect(result.exitCode).toBe(125);
      expect(result.stderr).toMatch(/missing command/);
    }
  });

  it('a state directory that cannot be written', async () => {
    const file = marker();
    const parent = mkdtempSync(join(tmpdir(), 'scidex-ro-'));
    const stateDir = join(parent, 'state');
    // root ignores directory modes: a path below a regular file cannot be created by anyone.
    const file2 = join(parent, 'a-file');
    writeFileSync(file2, '');
    const unwritable = process.getuid?.() === 0 ? join(file2, 'state') : stateDir;
    chmodSync(parent, 0o500);
    const result = await startWrapper(['--', 'touch', file], { tag, stateDir: unwritable });
    expect(result.exitCode).toBe(125);
    expect(result.stderr).toMatch(/state directory .* cannot be written/);
    expect(existsSync(file)).toBe(false);
  });

  it('--help explains every option with its default', async () => {
    const result = await startWrapper(['--help'], { tag });
    expect(result.exitCode).toBe(0);
    for (const text of ['--timeout', '[default: 30m]', '--memory-limit', '[default: 2GiB]', '--grace', '[default: 10s]', '124', '137']) {
      expect(result.stdout).toContain(text);
    }
  });
});

describe('a tracking backend this host lacks', () => {
  const canDropPrivileges = process.getuid?.() === 0 && existsSync('/usr/sbin/runuser');
  it.skipIf(!canDropPrivileges)('is refused with 125 before anything runs (cgroup as the unprivileged user nobody)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'scidex-nobody-'));
    chownSync(stateDir, Number((await execa('id', ['-u', 'nobody'])).stdout), Number((await execa('id', ['-g', 'nobody'])).stdout));
    const file = join(stateDir, 'spawned');
    const result = await execa('runuser', ['-u', 'nobody', '--', BIN, '--tracking', 'cgroup', '--state-dir', stateDir, '--', 'touch', file], {
      reject: false,
      env: { SCIDEX_TEST_TAG: tag },
    });
    expect(result.exitCode).toBe(125);
    expect(result.stderr).toMatch(/^scidex-run: tracking backend 'cgroup' is not available here: .*EACCES/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(file)).toBe(false);
  });
});
