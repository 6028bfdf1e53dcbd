/**
 * `scidex-run --explain-tracking`: what this host supports, probed for real, and what `auto` picks.
 */
import { randomUUID } from 'node:crypto';
import { signalsUsePidfd } from '../terminate/guard.js';
import { explainTracking } from '../track/select.js';

/** Prints the report on stdout, as text or as one JSON object. */
export function printExplanation(json: boolean): void {
  const backends = explainTracking(randomUUID());
  const chosen = backends.find((report) => report.available)!.backend;
  const pidfd = signalsUsePidfd();
  if (json) {
    process.stdout.write(JSON.stringify({ chosen, backends, pidfd }) + '\n');
    return;
  }
  const lines = backends.map((report) => `  ${report.backend.padEnd(10)} ${report.available ? 'yes' : 'no '}  ${report.why}`);
  process.stdout.write(
    [
      'Tracking backends, strongest first:',
      ...lines,
      `auto picks: ${chosen}`,
      `signals go through: ${pidfd ? 'pidfds (pidfd_open + pidfd_send_signal): a reused pid is never hit' : 'kill(2) after a starttime re-check'}`,
      '',
    ].join('\n'),
  );
}
