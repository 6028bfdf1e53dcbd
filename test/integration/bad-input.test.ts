import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { startWrapper } from '../helpers/wrapper.js';

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
    ['bad signal', ['--kill-signal', 'SIGFOO'], /invalid --kill-signal/],
    ['long analysis id', ['--analysis-id', 'a'.repeat(257)], /at most 256/],
    ['control characters in analysis id', ['--analysis-id', 'a\nb'], /control characters/],
    ['malformed database URL', ['--database-url', 'mysql://x'], /invalid database URL/],
    ['malformed database URL', ['--database-url', 'postgresql://u:secret@host:notaport/db'], /invalid database URL/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const file = marker();
      const result = await startWrapper([...args, '--', 'touch', file], { tag });
      expect(result.exitCode).toBe(125);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/secret|\n\s+at /);
      expect(existsSync(file)).toBe(false);
    });
  }

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
