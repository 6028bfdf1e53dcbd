/**
 * `scidex-run --explain-tracking`: what this host supports, probed for real, and what `auto` picks;
 * and which kernel memory backstop a run with a memory limit gets (cgroup v2 memory.max, a cgroup v1
 * memory cgroup, or none).
 */
import { randomUUID } from 'node:crypto';
import { RUN_DEFAULTS } from '../config/run-config.js';
import { parseSizeBytes } from '../config/size.js';
import { signalsUsePidfd } from '../terminate/guard.js';
import { explainMemoryBackstop, explainTracking } from '../track/select.js';

/** Prints the report on stdout, as text or as one JSON object. */
export function printExplanation(json: boolean): void {
  const probeId = randomUUID();
  const backends = explainTracking(probeId);
  const chosen = backends.find((report) => report.available)!.backend;
  const pidfd = signalsUsePidfd();
  const backstop = explainMemoryBackstop(probeId, parseSizeBytes(RUN_DEFAULTS.memoryLimit, '--memory-limit'));
  if (json) {
    process.stdout.write(JSON.stringify({ chosen, backends, pidfd, memory_backstop: backstop }) + '\n');
    return;
  }
  const backstopLine =
    backstop.hierarchy === null ? `none: ${backstop.why}` : `cgroup ${backstop.hierarchy}, the limit plus 1/16 (at least 64 MiB): ${backstop.why}`;
  const lines = backends.map((report) => `  ${report.backend.padEnd(10)} ${report.available ? 'yes' : 'no '}  ${report.why}`);
  process.stdout.write(
    [
      'Tracking backends, strongest first:',
      ...lines,
      `auto picks: ${chosen}`,
      `signals go through: ${pidfd ? 'pidfds (pidfd_open + pidfd_send_signal): a reused pid is never hit' : 'kill(2) after a starttime re-check'}`,
      `kernel memory backstop: ${backstopLine}`,
      '',
    ].join('\n'),
  );
}
