// The Markdown tables of the tracking part, one function per part, from the rows the parts return.
//
// The tables are the raw material that BENCHMARKS.md condenses by hand, so nothing is hidden in them:
// survivors are bold, a tree that never emptied says so instead of showing a time, and every survivor
// of a peer run is listed by pid with its command, session and whether it kept its environment.
import type { KillRow } from './kill.js';
import { runsKey, type PeerResults, type PeerRun } from './peer-run.js';
import { DEADLINE_MS, GRACE_MS, peerName } from './peers.js';
import { median, ms, us } from './stats.js';
import type { TickRow } from './ticks.js';
import { PROGRAMS, type Program } from './zoo.js';

const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const rule = (columns: number): string => `|${'---|'.repeat(columns)}`;

export function tickTable(ticks: readonly TickRow[]): string[] {
  return [
    "One tracking tick (`tracker.scan()` back to back on a settled tree of sleepers; cold = a fresh tracker's first scan, which admits every member and reads its cmdline):",
    '',
    row(['backend', 'tree', 'ticks', 'median', 'p95', 'cold first scan (median)']),
    rule(6),
    ...ticks.map((t) => row([t.backend, `${t.size} process${t.size === 1 ? '' : 'es'}`, t.ticks, us(t.median), us(t.p95), us(t.cold)])),
    '',
  ];
}

export function killTable(kills: readonly KillRow[], reps: number): string[] {
  const out = [
    `Kill decision to empty tree (\`terminateTree\` in process, ${reps} runs each; survivors from the pidfile and the tag, 300 ms after it returned):`,
    '',
    row(['backend', 'tree', 'first signal, grace', 'members at decision (median)', 'to empty: median', 'max', 'SIGKILLed in kill passes (median)', 'survivors']),
    rule(8),
  ];
  for (const k of kills) {
    const empty = k.survivors === 0;
    out.push(
      row([
        k.backend,
        k.tree,
        `${k.variant.signal}, ${k.variant.graceMs} ms`,
        Math.round(median(k.atDecision)),
        empty ? ms(median(k.times)) : `never (returned after ${ms(median(k.times))})`,
        ms(Math.max(...k.times)),
        Math.round(median(k.killed)),
        empty ? '0' : `**${k.survivors}** in ${k.times.length} runs`,
      ]),
    );
  }
  const notes = kills.flatMap((k) => k.details.map((d) => `- ${k.backend}, ${k.tree}, ${k.variant.signal}: ${d}`));
  if (notes.length > 0) out.push('', ...notes);
  out.push('');
  return out;
}

export function peerTables({ peers, results }: PeerResults): string[] {
  const runsOf = (program: Program): PeerRun[][] => peers.map((peer) => results.get(runsKey(program, peer)) ?? []);
  const cells = (runs: PeerRun[], cell: (runs: PeerRun[]) => string): string => (runs.length === 0 ? '—' : cell(runs));
  const leftCell = (runs: PeerRun[]): string => {
    const left = runs.map((r) => r.survivors.length);
    return left.every((n) => n === 0) ? '0' : `**${left.join(', ')}**`;
  };
  const emptyCell = (runs: PeerRun[]): string => runs.map((r) => (r.survivors.length > 0 ? `never (${r.survivors.length} left)` : ms(r.toEmptyMs))).join(', ');
  const out = [
    `Peers on the zoo (deadline ${DEADLINE_MS / 1000} s, grace ${GRACE_MS / 1000} s; survivors = pidfile processes alive with the same starttime, ` +
      'not zombies, once the tool has exited and the tree stopped changing):',
    '',
    row(['program', ...peers.map(peerName)]),
    rule(peers.length + 1),
    ...PROGRAMS.map((program) => row([`${program.name}: processes left`, ...runsOf(program).map((runs) => cells(runs, leftCell))])),
    ...PROGRAMS.filter((p) => p.timed).map((program) => row([`${program.name}: kill decision to empty`, ...runsOf(program).map((runs) => cells(runs, emptyCell))])),
    '',
    'Survivors found (killed by pid afterwards), exit statuses and notes:',
    '',
  ];
  for (const program of PROGRAMS) {
    for (const peer of peers) {
      for (const run of results.get(runsKey(program, peer)) ?? []) {
        const extra = [`exit ${run.exit}`, `${run.processes} processes in the pidfile`, run.note].filter(Boolean).join(', ');
        out.push(`- ${program.name} under ${peerName(peer)} (${extra}): ${run.survivors.length === 0 ? 'none left' : run.descriptions.join('; ')}`);
      }
    }
  }
  out.push('');
  return out;
}
