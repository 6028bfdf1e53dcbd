/**
 * The light parser of every run (src/cli/run-args.ts) reads a command line exactly as yargs does, or
 * leaves it to yargs: for each command line of the corpus, either it defers, or yargs gives the
 * same result without an error.
 */
import { describe, expect, it } from 'vitest';
import { parseLight } from '../../src/cli/run-args.js';
import { parseWithYargs } from '../../src/cli/run-yargs.js';

const CORPUS: string[][] = [
  ['--', 'true'],
  ['true'],
  ['python3', 'analyze.py', '--timeout', '5'],
  ['--timeout', '5s', '--', 'sleep', '1'],
  ['--timeout=5s', '--', 'sleep', '1'],
  ['--timeout', '5', 'sleep', '1'],
  ['--timeout', '--', 'sleep'],
  ['--timeout'],
  ['--timeout', '1s', '--timeout', '2s', '--', 'true'],
  ['--memory-limit', '2GiB', '--grace', '300ms', '--orphans', 'wait', '--', 'x'],
  ['--analysis-id', 'a b', '--quiet', '--', 'true'],
  ['--analysis-id', '-5', '--', 'true'],
  ['--analysis-id', '--quiet', '--', 'true'],
  ['--quiet', 'true'],
  ['--quiet=false', '--', 'true'],
  ['--quiet=maybe', '--', 'true'],
  ['--no-quiet', '--', 'true'],
  ['--preserve-status', '--json', '--', 'true'],
  ['--explain-tracking'],
  ['--explain-tracking', '--json'],
  ['--analysisId', 'x', '--', 'true'],
  ['--unknown', '--', 'true'],
  ['-x', '--', 'true'],
  ['-h'],
  ['--help'],
  ['--version'],
  ['--', '--help'],
  ['--', '-h', '--version'],
  ['sh', '-c', 'exit 3'],
  ['--tracking', 'pgroup', '--poll-interval', '100ms..1s', '--', 'sh', '-c', 'sleep 1'],
  ['--kill-signal', '9', '--', 'true'],
  ['--kill-signal', '-9', '--', 'true'],
  ['--sample-interval', '0', '--heartbeat-interval', '0', '--', '007'],
  ['--', '1e3', '0x10'],
  ['5', '6'],
  ['--state-dir', '/tmp/x y', '--database-url', 'postgresql://u@h/db', '--pushgateway', 'http://h:9091', '--', 'true'],
  ['--journal-retention', '7d', '--orphan-settle', '0', '--', 'true'],
  ['--', ''],
  [''],
  [],
  ['--timeout', ''],
  ['--grace', '1s', 'extra', '--', 'true'],
  ['---weird', '--', 'true'],
  ['--=x', '--', 'true'],
  ['-', 'true'],
  // camelCase names, which yargs knows as the options they spell (found by an adversarial review).
  ['--preserveStatus', 'timeout', '--preserve-status', '10', 'make'],
  ['--analysisId', 'a', '--analysis-id', 'b', '--', 'true'],
  ['--analysisId', '--analysis-id', 'b', '--', 'true'],
  ['--explainTracking', '--json'],
  ['--orphanSettle', '0', '--', 'true'],
];

describe('the light parser of a run', () => {
  for (const args of CORPUS) {
    it(`reads ${JSON.stringify(args)} as yargs does, or leaves it to yargs`, () => {
      const light = parseLight(args);
      if (light === undefined) return;
      const { $0: _name, ...byYargs } = parseWithYargs(args);
      expect(light).toEqual(byYargs);
    });
  }

  it('takes the common command lines itself', () => {
    for (const args of [['--', 'true'], ['--timeout', '5s', '--quiet', '--', 'sleep', '1'], ['python3', 'analyze.py']]) expect(parseLight(args), args.join(' ')).toBeDefined();
  });

  it('leaves help, version and unknown options to yargs', () => {
    for (const args of [['--help'], ['-h'], ['--version'], ['--unknown', '--', 'true'], ['--timeout']]) expect(parseLight(args), args.join(' ')).toBeUndefined();
  });
});
