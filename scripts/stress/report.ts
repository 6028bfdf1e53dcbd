// The result of a stress run and its two forms: the human summary (stdout of `npm run stress`) and
// the JSON object (`--json`, for BENCHMARKS.md). The violations decide the exit status.
import type { FaultKind, FaultTally } from './faults.js';
import type { TableCounts, Violation } from './invariants.js';

/** Everything a stress run reports. Durations are milliseconds. */
export interface StressResult {
  seed: number;
  /** The options that shape the run, as given. */
  settings: { runs: number; concurrency: number; durationMs: number; stateDirs: number; faultGapMs: number; maxConnections: number; sentinels: number };
  /** `tmpfs 1024 KiB at PATH`, or why the full-disk fault was skipped. */
  fullDisk: string;
  runs: {
    planned: number;
    byKind: Record<string, number>;
    /** How the wrappers ended: `exit 0`, `exit 124`, `SIGKILL`, ... */
    wrapperEnds: Record<string, number>;
    killedByHarness: number;
    hung: number;
    /** Wrapper lifetimes (spawn to exit), ms: median, 95th percentile, longest. */
    wallMs: { median: number; p95: number; max: number };
  };
  faults: Record<FaultKind, FaultTally>;
  /** The scidex-watchdog invocations: counts and exit statuses, by label. */
  watchdogs: Record<string, Record<string, number>>;
  /** `scidex-watchdog serve on 127.0.0.1:PORT: exit 0`. */
  daemon: string;
  journalLines: TableCounts & { files: number };
  databaseRows: TableCounts;
  /** Final statuses in PostgreSQL. */
  statuses: Record<string, number>;
  /** Tagged processes found alive at the end (each is also a violation). */
  survivors: number;
  violations: Violation[];
  notes: string[];
  /** Wrapper stderr lines, ids and numbers replaced, with their counts; most frequent first. */
  wrapperMessages: { line: string; count: number }[];
  elapsedMs: number;
  phasesMs: Record<string, number>;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const tally = (counts: Record<string, number>): string =>
  Object.entries(counts).filter(([, n]) => n > 0).map(([key, n]) => `${key} ${n}`).join(', ') || 'none';

/** Groups violations by kind, most frequent first: `event-missing ×3, journal-unmarked ×1`. */
export function violationKinds(violations: readonly Violation[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const violation of violations) kinds[violation.kind] = (kinds[violation.kind] ?? 0) + 1;
  return Object.fromEntries(Object.entries(kinds).sort((a, b) => b[1] - a[1]));
}

/** The human summary; at most `maxListed` violations are listed one per line (the JSON has them all). */
export function formatReport(result: StressResult, maxListed = 200): string {
  const { settings: s } = result;
  const sum = (counts: TableCounts) => counts.runs + counts.events + counts.processes + counts.samples;
  const faults = (Object.entries(result.faults) as [string, FaultTally][])
    .map(([kind, counts]) => `${kind} ${counts.injected}${counts.skipped > 0 ? ` (+${counts.skipped} skipped)` : ''}`)
    .join(', ');
  const lines = [
    `scidex-run stress: seed ${result.seed} (replay: npm run stress -- --seed ${result.seed} --runs ${s.runs} --concurrency ${s.concurrency} --duration ${s.durationMs}ms --state-dirs ${s.stateDirs} --fault-gap ${s.faultGapMs}ms)`,
    `runs: ${result.runs.planned} (${tally(result.runs.byKind)}), at most ${s.concurrency} at once, starts spread over ${seconds(s.durationMs)}, ${s.stateDirs} state directories; PostgreSQL max_connections ${s.maxConnections}`,
    `wrappers ended: ${tally(result.runs.wrapperEnds)}; SIGKILLed by the harness ${result.runs.killedByHarness}, hung ${result.runs.hung}; ` +
      `lifetime median ${seconds(result.runs.wallMs.median)}, p95 ${seconds(result.runs.wallMs.p95)}, max ${seconds(result.runs.wallMs.max)}`,
    `final statuses in PostgreSQL: ${tally(result.statuses)}`,
    `faults injected: ${faults}`,
    `watchdog invocations: ${Object.entries(result.watchdogs).map(([label, ends]) => `${label} (${tally(ends)})`).join('; ') || 'none'}`,
    `daemon: ${result.daemon}`,
    `full disk: ${result.fullDisk}`,
    `rows checked: ${sum(result.journalLines)} journal lines in ${result.journalLines.files} journals (${tally({ ...result.journalLines, files: 0 })}); ` +
      `${sum(result.databaseRows)} PostgreSQL rows (${tally({ ...result.databaseRows })})`,
    `sentinels: ${s.sentinels}; survivors: ${result.survivors}`,
  ];
  if (result.notes.length > 0) lines.push('notes:', ...result.notes.map((note) => `  - ${note}`));
  if (result.wrapperMessages.length > 0) {
    lines.push('wrapper messages (ids, paths and numbers replaced):', ...result.wrapperMessages.slice(0, 15).map(({ line, count }) => `  ${count}× ${line}`));
  }
  lines.push(`violations: ${result.violations.length}${result.violations.length > 0 ? ` (${tally(violationKinds(result.violations)).replace(/ (\d+)/g, ' ×$1')})` : ''}`);
  for (const violation of result.violations.slice(0, maxListed)) lines.push(`  - ${violation.kind}${violation.run ? ` run ${violation.run}` : ''}: ${violation.detail}`);
  if (result.violations.length > maxListed) lines.push(`  ... and ${result.violations.length - maxListed} more (--json lists them all)`);
  lines.push(`elapsed: ${seconds(result.elapsedMs)} (${Object.entries(result.phasesMs).map(([phase, ms]) => `${phase} ${seconds(ms)}`).join(', ')})`);
  return lines.join('\n');
}
