/**
 * The caller examples of scripts/examples/callers/ work as shown: the Python subprocess caller and
 * the cron wrapper run for real; the YAML files parse and hold what docs/usage.md says they hold;
 * the systemd units pass `systemd-analyze verify` (or, where it cannot run, parse as INI with the
 * keys they need); and under GitHub Actions a kill prints its ::error annotation on stdout.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { escapeData, escapeProperty } from '../../src/report/github-actions.js';
import { ownedTag } from '../helpers/processes.js';
import { BIN, EXAMPLES, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const CALLERS = fileURLToPath(new URL('../../scripts/examples/callers/', import.meta.url));

/** Runs a caller example with the test's tag and a private state directory; never rejects. */
function runCaller(file: string, args: string[], env: Record<string, string | undefined> = {}) {
  return execa(file, args, {
    reject: false,
    stdin: 'ignore',
    env: { SCIDEX_RUN: BIN, SCIDEX_RUN_STATE_DIR: newStateDir(), DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, ...env, SCIDEX_TEST_TAG: tag },
  });
}

describe('Python subprocess caller', () => {
  const script = join(CALLERS, 'call_scidex_run.py');

  it('maps a timeout (124) to its message', async () => {
    const result = await runCaller('python3', [script, 'py-timeout', '1s', 'python3', join(EXAMPLES, 'outlive_timeout.py')], { SCIDEX_RUN_GRACE: '1s' });
    expect(result.exitCode).toBe(124);
    expect(result.stdout.trim().split('\n').at(-1)).toBe('analysis py-timeout: timed out: killed for the wall-clock limit (exit status 124)');
  });

  // Three python3 callers one after the other, each starting a wrapper: seconds each on a host loaded by the suite.
  it('maps a completed run, a command not found (127) and bad input (125)', { timeout: 180_000 }, async () => {
    const ok = await runCaller('python3', [script, 'py-ok', '30s', 'true']);
    expect([ok.exitCode, ok.stdout.trim()]).toEqual([0, 'analysis py-ok: completed (exit status 0)']);
    const missing = await runCaller('python3', [script, 'py-missing', '30s', 'no-such-command-scidex']);
    expect([missing.exitCode, missing.stdout.trim()]).toEqual([127, 'analysis py-missing: not run: the command was not found (exit status 127)']);
    const bad = await runCaller('python3', [script, 'py-bad', 'five minutes', 'true']);
    expect([bad.exitCode, bad.stdout.trim()]).toEqual([125, 'analysis py-bad: not run: scidex-run failed or was given bad options (exit status 125)']);
  });
});

describe('Python application adopting its own subprocesses', () => {
  const script = join(CALLERS, 'adopt_subprocesses.py');

  it('registers each analysis subprocess with scidex-watchdog adopt: one finishes, one is stopped at its timeout, one is released and outlives it', async () => {
    const stateDir = newStateDir();
    const result = await runCaller('python3', [script, 'py-adopt'], { SCIDEX_WATCHDOG: BIN.replace(/scidex-run$/, 'scidex-watchdog'), SCIDEX_RUN_STATE_DIR: stateDir });
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^job finish: run [0-9a-f-]{36} completed \(exit status 0\)$/);
    expect(lines[1]).toMatch(/^job overrun: run [0-9a-f-]{36} timeout: the watchdog stopped it \(returncode -15, 3 processes\)$/);
    expect(lines[2]).toMatch(/^job keep: run [0-9a-f-]{36} released; pid \d+ still ran past its timeout, stopped by the application itself$/);
    // The records say the same: three adopted runs of the analysis.
    const runs = await execa(BIN.replace(/scidex-run$/, 'scidex-watchdog'), ['runs', '--analysis-id', 'py-adopt', '--json'], { env: { SCIDEX_RUN_STATE_DIR: stateDir, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined } });
    const rows = runs.stdout.trim().split('\n').map((line) => JSON.parse(line) as { adopted: boolean; status: string });
    expect(rows.map((row) => [row.adopted, row.status]).sort()).toEqual([[true, 'completed'], [true, 'released'], [true, 'timeout']]);
    // Three adoptions (each a CLI run and a supervisor's start), a release and the keep job's 10 s timeout
    // waited out: far above 90 s on a host loaded by the suite.
  }, 240_000);
});

describe('cron wrapper script', () => {
  const script = join(CALLERS, 'cron-wrapper.sh');

  it('runs a short command quietly: no output at all on success, as cron would mail it', async () => {
    const result = await runCaller(script, ['cron-ok', 'sh', '-c', 'exit 0']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('');
  });

  it('says in one line why a run did not complete, and keeps its status', async () => {
    const failed = await runCaller(script, ['cron-fail', 'sh', '-c', 'exit 3']);
    expect(failed.exitCode).toBe(3);
    expect(failed.stderr).toBe('scidex-run cron: cron-fail failed (exit status 3)');
    const timedOut = await runCaller(script, ['cron-timeout', 'sleep', '30'], { SCIDEX_RUN_TIMEOUT: '1s', SCIDEX_RUN_GRACE: '1s' });
    expect(timedOut.exitCode).toBe(124);
    expect(timedOut.stderr).toBe('scidex-run cron: cron-timeout timed out after 1s (exit status 124)');
  });

  it('the crontab example calls the wrapper with five time fields', () => {
    const entries = readFileSync(join(CALLERS, 'crontab.example'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#') && !/^[A-Z_]+=/.test(line));
    expect(entries).toHaveLength(1);
    const fields = entries[0].trim().split(/\s+/);
    expect(fields.slice(0, 5).every((field) => /^[\d*,/-]+$/.test(field))).toBe(true);
    expect(fields[5]).toMatch(/cron-wrapper\.sh$/);
  });
});

describe('YAML callers parse and hold a scidex-run call', () => {
  const load = (name: string) => parseYaml(readFileSync(join(CALLERS, name), 'utf8'), { strict: true, uniqueKeys: true });

  it('GitLab CI: a job whose script runs scidex-run, the journal kept as an artifact whatever the outcome', () => {
    const config = load('gitlab-ci.yml');
    const job = config.wordfreq;
    expect(config.stages).toContain(job.stage);
    expect(job.script.join('\n')).toMatch(/scidex-run --analysis-id .* -- /);
    expect(job.artifacts).toMatchObject({ when: 'always' });
    expect(job.artifacts.paths[0]).toMatch(/journal/);
    expect(job.variables.SCIDEX_RUN_STATE_DIR).toBeDefined();
  });

  it('Kubernetes Job: scidex-run is the entrypoint, the grace periods nest, killed runs are not retried', () => {
    const job = load('kubernetes-job.yaml');
    expect(job).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job' });
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    const [container] = pod.containers;
    expect(container.command).toEqual(['scidex-run']);
    const args: string[] = container.args.map(String);
    expect(args).toContain('--');
    const grace = Number(/^(\d+)s$/.exec(args[args.indexOf('--grace') + 1])![1]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(grace);
    expect(job.spec.podFailurePolicy.rules[0].onExitCodes.values).toEqual(expect.arrayContaining([124, 125, 137]));
    expect(job.spec.podFailurePolicy.rules[0].onExitCodes.containerName).toBe(container.name);
  });

  it('GitHub Actions: a step runs scidex-run, the journal is uploaded always', () => {
    const workflow = load('github-actions.yml');
    const steps: { run?: string; if?: string; uses?: string }[] = workflow.jobs.wordfreq.steps;
    expect(steps.some((step) => /scidex-run --analysis-id .* -- /.test(step.run ?? ''))).toBe(true);
    expect(steps.find((step) => step.uses?.startsWith('actions/upload-artifact'))?.if).toBe('always()');
  });
});

describe('systemd timer and service', () => {
  /** A minimal INI reading: section -> key -> values (a key may repeat, as Environment= does). */
  function parseUnit(text: string): Record<string, Record<string, string[]>> {
    const sections: Record<string, Record<string, string[]>> = {};
    let current: Record<string, string[]> | undefined;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      const header = /^\[(.+)\]$/.exec(line);
      if (header) {
        current = sections[header[1]] = {};
        continue;
      }
      const pair = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (!pair || !current) throw new Error(`not a unit line: ${line}`);
      (current[pair[1]] ??= []).push(pair[2]);
    }
    return sections;
  }

  it('the pair parses, and the service is a oneshot running scidex-run that the timer starts', () => {
    const service = parseUnit(readFileSync(join(CALLERS, 'scidex-analysis.service'), 'utf8'));
    const timer = parseUnit(readFileSync(join(CALLERS, 'scidex-analysis.timer'), 'utf8'));
    expect(service.Service.Type).toEqual(['oneshot']);
    expect(service.Service.ExecStart[0]).toMatch(/^\/\S*scidex-run --analysis-id \S+ -- \//);
    expect(service.Service.KillMode).toEqual(['mixed']);
    const grace = Number(/SCIDEX_RUN_GRACE=(\d+)s/.exec(service.Service.Environment.join(' '))![1]);
    expect(Number(/^(\d+)s$/.exec(service.Service.TimeoutStopSec[0])![1])).toBeGreaterThan(grace);
    expect(timer.Timer.Unit).toEqual(['scidex-analysis.service']);
    expect(timer.Timer.OnCalendar).toHaveLength(1);
    expect(timer.Install.WantedBy).toEqual(['timers.target']);
  });

  it('systemd-analyze verify accepts them (with ExecStart pointed at this checkout)', (context) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0) return context.skip();
    const dir = mkdtempSync(join(tmpdir(), 'scidex-units-'));
    copyFileSync(join(CALLERS, 'scidex-analysis.timer'), join(dir, 'scidex-analysis.timer'));
    const service = readFileSync(join(CALLERS, 'scidex-analysis.service'), 'utf8').replace('/usr/local/bin/scidex-run', BIN);
    writeFileSync(join(dir, 'scidex-analysis.service'), service);
    const result = spawnSync('systemd-analyze', ['verify', join(dir, 'scidex-analysis.service'), join(dir, 'scidex-analysis.timer')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status, result.stderr).toBe(0);
    // verify exits 0 on unknown keys and bad values too: any line about our files is a finding.
    expect(result.stderr.split('\n').filter((line) => line.includes('scidex-analysis'))).toEqual([]);
  });
});

describe('GitHub Actions annotation', () => {
  it('escapes as the runner decodes: %, CR and LF in the message; also : and , in properties', () => {
    expect(escapeData('50% done\r\nnext: a, b')).toBe('50%25 done%0D%0Anext: a, b');
    expect(escapeProperty('a: b, c%')).toBe('a%3A b%2C c%25');
  });

  it('a timeout under GITHUB_ACTIONS=true prints one ::error workflow command on stdout', async () => {
    const result = await startWrapper(['--quiet', '--analysis-id', 'gh 100%', '--timeout', '1s', '--grace', '1s', '--', 'sleep', '30'], {
      tag,
      env: { GITHUB_ACTIONS: 'true' },
    });
    expect(result.exitCode).toBe(124);
    const lines = result.stdout.split('\n').filter((line) => line.startsWith('::'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^::error title=scidex-run::gh 100%25 killed: timeout \(limit 1\.00s\) after \d+\.\d\ds, peak tree RSS [\d.]+ [KM]iB \(exit status 124\)$/,
    );
  });

  it('orphans killed also annotate; a run that was not killed, or outside Actions, does not', async () => {
    const orphans = await startWrapper(['--quiet', '--analysis-id', 'gh-orphans', '--grace', '1s', '--', 'python3', join(EXAMPLES, 'leave_orphan.py')], {
      tag,
      env: { GITHUB_ACTIONS: 'true' },
    });
    expect(orphans.exitCode).toBe(0);
    expect(orphans.stdout).toMatch(/^::error title=scidex-run::gh-orphans killed: orphans left behind after [\d.]+m?s, peak tree RSS .+ \(exit status 0\)$/m);
    const clean = await startWrapper(['--quiet', '--', 'sh', '-c', 'exit 2'], { tag, env: { GITHUB_ACTIONS: 'true' } });
    expect(clean.exitCode).toBe(2);
    expect(clean.stdout).not.toContain('::error');
    const outside = await startWrapper(['--quiet', '--timeout', '1s', '--grace', '1s', '--', 'sleep', '30'], { tag, env: { GITHUB_ACTIONS: undefined } });
    expect(outside.exitCode).toBe(124);
    expect(outside.stdout).not.toContain('::error');
  });
});
