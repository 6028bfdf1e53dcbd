/**
 * A `scidex-watchdog serve` without a database, and runs of every kind its /metrics count, so that
 * every series it exposes has samples: a completed run, a failed one, a timeout kill, a memory kill
 * (its PSS read), and one held running until the test releases it. Shared by the tests that look at
 * the daemon's metrics from outside (promtool, the Grafana dashboard through Prometheus).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { BIN, EXAMPLES, startWrapper } from './wrapper.js';

const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
const NO_DATABASE = { DATABASE_URL: undefined, SCIDEX_RUN_DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined };

/** Starts `scidex-watchdog serve` on 127.0.0.1:`port`, sweeping every 200 ms, no database; the caller stops it with stopServe. */
export function startServe(stateDir: string, port: number, tag: string): ResultPromise<{ reject: false }> {
  return execa(WATCHDOG, ['serve', '--listen', `127.0.0.1:${port}`, '--interval', '200ms', '--state-dir', stateDir], {
    reject: false,
    env: { ...NO_DATABASE, SCIDEX_TEST_TAG: tag },
    stdin: 'ignore',
  }) as ResultPromise<{ reject: false }>;
}

/**
 * SIGTERM to the daemon we started (our own child, by its pid; it stops after the sweep under way).
 * @returns its exit code; undefined when it had already exited
 */
export async function stopServe(daemon: ResultPromise<{ reject: false }> | undefined): Promise<number | undefined> {
  if (!daemon?.pid || daemon.exitCode !== null) return undefined;
  daemon.kill('SIGTERM');
  return (await daemon).exitCode;
}

/** The runs of every kind: the exit codes of the four that ended, and the one still running. */
export interface EveryKind {
  /** Exit codes of the completed, failed, timed-out and memory-killed runs: [0, 3, 124, 137] when all went as meant. */
  exitCodes: (number | undefined)[];
  /** The running run: it exits 0 once released. */
  running: ResultPromise<{ reject: false; all: false }>;
  /** Lets the running run end. */
  release(): void;
}

/** Records runs of every kind in `stateDir`; resolves once the four that end have ended (the wrappers never reject: the caller releases the running one). */
export async function runsOfEveryKind(stateDir: string, tag: string): Promise<EveryKind> {
  // Held until released, however slowly the sweeps and scrapes come round; 20 MiB so that its tree RSS is seen.
  const gate = join(mkdtempSync(join(tmpdir(), 'scidex-gate-')), 'release');
  const script = 'import os, sys, time\nx = bytearray(20 << 20)\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.1)';
  const running = startWrapper(['--quiet', '--sample-interval', '200ms', '--timeout', '120s', '--', 'python3', '-c', script, gate], { tag, stateDir });
  const ended = await Promise.all([
    startWrapper(['--quiet', '--analysis-id', 'metrics-ok', '--', 'true'], { tag, stateDir }),
    startWrapper(['--quiet', '--', 'sh', '-c', 'exit 3'], { tag, stateDir }),
    startWrapper(['--quiet', '--timeout', '300ms', '--grace', '1s', '--', 'sleep', '30'], { tag, stateDir }),
    // 8 MiB per step: the scan reads the PSS before the kernel backstop (64 MiB above the limit) is reached.
    startWrapper(['--quiet', '--memory-limit', '64MiB', '--grace', '1s', '--', 'python3', join(EXAMPLES, 'balloon.py'), '8', '1024'], { tag, stateDir }),
  ]);
  return { exitCodes: ended.map((result) => result.exitCode), running, release: () => writeFileSync(gate, '') };
}
