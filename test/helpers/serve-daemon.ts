/**
 * A real `scidex-watchdog serve` for a page test: on a free loopback port, with a state directory
 * and a database of the test's own, its output in a log file, tagged for the survivor checks, and
 * stopped by its pid (SIGTERM, never by name), awaited.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { expect } from 'vitest';
import { freeLoopbackPort } from './server-host.js';
import { until } from './until.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));

/** A daemon that answers /status. */
export interface TestDaemon {
  /** http://127.0.0.1:PORT */
  readonly base: string;
  readonly port: number;
  /** Its process (our child: a `via` prefix execs it, so the pid is the daemon's own). */
  readonly process: ResultPromise;
  /** What it has written so far. */
  log(): string;
  /** Stops it by its pid with SIGTERM, if it still runs, and waits for it; closes its log. Idempotent. */
  stop(): Promise<void>;
}

export interface TestDaemonOptions {
  stateDir: string;
  databaseUrl: string;
  tag: string;
  /** Where its log file goes (`serve-<port>.log`). */
  scratch: string;
  /** argv put before the daemon's (second-host.ts asHost). */
  via?: string[];
}

/** Starts the daemon and waits until /status answers (failing, with its log, if it exits first). */
export async function serveForTest(options: TestDaemonOptions): Promise<TestDaemon> {
  const port = await freeLoopbackPort();
  const base = `http://127.0.0.1:${port}`;
  const logFile = join(options.scratch, `serve-${port}.log`);
  const fd = openSync(logFile, 'a');
  const log = () => readFileSync(logFile, 'utf8');
  const [file, ...args] = [...(options.via ?? []), WATCHDOG, 'serve', '--listen', `127.0.0.1:${port}`, '--interval', '500ms', '--state-dir', options.stateDir, '--database-url', options.databaseUrl];
  // A file descriptor, not a pipe: execa's promise would wait for any grandchild holding a pipe.
  // (execa takes any fd at run time; its types accept only literal ones.)
  const child = execa(file, args, { reject: false, stdin: 'ignore', stdout: fd as 3, stderr: fd as 3, env: { SCIDEX_RUN_STATE_DIR: options.stateDir, SCIDEX_TEST_TAG: options.tag } });
  let stopped: Promise<void> | undefined;
  const daemon: TestDaemon = {
    base,
    port,
    process: child,
    log,
    stop: () =>
      (stopped ??= (async () => {
        if (child.pid !== undefined && child.pid > 1 && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
        await child;
        closeSync(fd);
      })()),
  };
  try {
    await until(
      () => `serve to answer on ${base}/status, its log:\n${log()}`,
      () => {
        expect(child.exitCode ?? child.signalCode, `serve exited early:\n${log()}`).toBeNull();
        return fetch(`${base}/status`).then((response) => response.ok).catch(() => false);
      },
      // A hang bound: a Node start on a host loaded by the suite took 12 s.
      60_000,
      { every: 100 },
    );
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  return daemon;
}
