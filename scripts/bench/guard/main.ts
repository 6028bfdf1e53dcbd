// Benchmark of issue 15, "Memory-pressure guard in the daemon": the guard's reaction time, from the
// moment the host's MemAvailable falls below the daemon's --min-available to the victim's first
// signal. Each run:
//
//   1. a daemon of its own (`scidex-watchdog serve --interval 10s`, no database, a state dir of its own)
//      with --min-available set BELOW MiB (700) under what the host has available at that moment;
//   2. one run of a balloon (BALLOON below) that allocates and touches memory at RATE MiB/s, 8 MiB a
//      step, up to 1536 MiB, reading MemAvailable after every step: the first step that finds it below
//      the floor is the crossing, timed by the balloon itself (to within one step: 4 ms at 2000 MiB/s,
//      40 ms at 200 MiB/s);
//   3. the victim's first signal: the `at` of the run's first signal_sent event (when the wrapper sent
//      it), and the time the balloon's SIGTERM handler ran (when it was received);
//   4. the daemon's own view, from /status `pressure_guard.last_stop`: when it first saw the crossing
//      (`crossed_at`) and when the request reached the wrapper (`at`).
// So: detection = daemon saw it - crossing; decision = request delivered - daemon saw it (measuring
// the runs' PSS, the identity checks, the request file and SIGTERM); wrapper = first signal sent -
// request delivered; total = first signal sent - crossing.
//
// Options: --guard-runs N (5 per rate), --rates 200,2000 (MiB/s), --below MiB (700), --interval D (10s).
//
// Bundled on the fly by scripts/bench/run.mjs (`npm run bench -- --only guard`) into dist/bench/guard.mjs.
// Prints a Markdown report on stdout, progress on stderr. Every process started carries the bench tag
// and is checked at the end (exit 1 if one survived); see ../common/processes.ts.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { log, newFolder, RUN_BIN, WATCHDOG_BIN } from '../common/context.js';
import { runPart } from '../common/finish.js';
import { start } from '../common/processes.js';
import { median } from '../tracking/stats.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const RUNS = Number(option('guard-runs') ?? 5);
const RATES = (option('rates') ?? '200,2000').split(',').map(Number);
const BELOW_MIB = Number(option('below') ?? 700);
const INTERVAL = option('interval') ?? '10s';
const MiB = 1024 ** 2;

const BALLOON = `
import os, signal, sys, time
out, floor, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
STEP, MAX = 8, 1536
crossed = None
def available():
    with open('/proc/meminfo') as meminfo:
        for line in meminfo:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) * 1024
def on_term(signum, frame):
    received = time.time()
    with open(out, 'w') as f:
        f.write(f"{received} {crossed or 0}\\n")
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
held = []
begin = time.time()
while len(held) * STEP < MAX:
    held.append(b"\\x01" * (STEP << 20))
    if crossed is None and available() < floor:
        crossed = time.time()
    delay = begin + len(held) * STEP / rate - time.time()
    if delay > 0:
        time.sleep(delay)
while True:
    if crossed is None and available() < floor:
        crossed = time.time()
    time.sleep(0.002)
`;

function memAvailableBytes(): number {
  const match = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'latin1'));
  if (!match) throw new Error('no MemAvailable in /proc/meminfo');
  return Number(match[1]) * 1024;
}

interface GuardRun {
  rate: number;
  crossedMs: number;
  daemonSawMs: number;
  deliveredMs: number;
  signalSentMs: number;
  receivedMs: number | undefined;
  by: string;
  exitCode: number | undefined;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** One measured run (module comment). */
async function oneRun(rate: number): Promise<GuardRun> {
  const stateDir = newFolder(`guard-${rate}`);
  const out = join(stateDir, 'signal.txt');
  const script = join(stateDir, 'balloon.py');
  writeFileSync(script, BALLOON);
  const floor = memAvailableBytes() - BELOW_MIB * MiB;
  const daemon = start(WATCHDOG_BIN, ['serve', '--listen', '127.0.0.1:0', '--interval', INTERVAL, '--state-dir', stateDir, '--min-available', String(floor)], stateDir, {
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  try {
    const listen = await waitFor('the daemon', () => {
      const file = join(stateDir, 'watchdog.json');
      return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { listen: string }).listen : undefined;
    }, 15_000);
    const status = async () => (await fetch(`http://${listen}/status`)).json() as Promise<{ pressure_guard: { last_stop: { crossed_at: string; at: string; by: string } | null } }>;
    await waitFor('/status', () => status().then(() => true, () => undefined), 15_000);
    const wrapper = await start(RUN_BIN, ['--quiet', '--', 'python3', script, out, String(floor), String(rate)], stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
    const stop = await waitFor('the last stop in /status', async () => (await status()).pressure_guard.last_stop ?? undefined, 15_000);
    const journalDir = join(stateDir, 'journal');
    const journal = readFileSync(join(journalDir, readdirSync(journalDir).find((name) => name.endsWith('.jsonl'))!), 'utf8');
    const events = journal.trim().split('\n').map((line) => JSON.parse(line) as { table: string; record: { kind?: string; at?: string } }).filter((entry) => entry.table === 'events');
    const sent = events.find((entry) => entry.record.kind === 'signal_sent');
    if (!sent) throw new Error(`no signal_sent in the run's journal (exit ${wrapper.exitCode}: ${String(wrapper.stderr)})`);
    const [received, crossed] = existsSync(out) ? readFileSync(out, 'utf8').trim().split(' ').map(Number) : [undefined, undefined];
    if (!crossed) throw new Error(`the balloon never saw MemAvailable below the floor (exit ${wrapper.exitCode})`);
    return {
      rate,
      crossedMs: crossed * 1000,
      daemonSawMs: Date.parse(stop.crossed_at),
      deliveredMs: Date.parse(stop.at),
      signalSentMs: Date.parse(sent.record.at!),
      receivedMs: received === undefined ? undefined : received * 1000,
      by: stop.by,
      exitCode: wrapper.exitCode,
    };
  } finally {
    daemon.kill('SIGTERM');
    await daemon;
  }
}

const f0 = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? '—' : value.toFixed(0));

async function main(out: string[]): Promise<boolean> {
  if (!Number.isFinite(RUNS) || RUNS <= 0 || RATES.some((rate) => !(rate > 0)) || !(BELOW_MIB > 0)) throw new Error('bad options');
  const [l1, l5, l15] = loadavg();
  out.push(
    `Made by: \`node scripts/bench/run.mjs --only guard${args.length > 0 ? ` ${args.join(' ')}` : ''}\` (or \`npm run bench -- --only guard ...\`), ${new Date().toISOString()}.`,
    `Host: nproc ${availableParallelism()}, load average ${l1.toFixed(2)} / ${l5.toFixed(2)} / ${l15.toFixed(2)} (1 / 5 / 15 min) at the start; Node ${process.version}; ` +
      `MemAvailable ${(memAvailableBytes() / 1024 ** 3).toFixed(1)} GiB. Daemon: \`serve --interval ${INTERVAL} --min-available <MemAvailable - ${BELOW_MIB} MiB>\`, no database.`,
    '',
    '| growth | runs | detection: crossing to the daemon\'s reading | decision: to the request delivered | wrapper: to the first signal sent | **total: crossing to the first signal** (median, min–max) | first signal received (handler ran) | ended by |',
    '|---|---|---|---|---|---|---|---|',
  );
  let failed = false;
  for (const rate of RATES) {
    const runs: GuardRun[] = [];
    const errors: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      log(`rate ${rate} MiB/s, run ${i + 1}/${RUNS}`);
      try {
        runs.push(await oneRun(rate));
      } catch (error) {
        errors.push((error as Error).message);
      }
      // Let the host take its memory back before the next floor is set.
      await sleep(1000);
    }
    if (runs.length === 0) {
      failed = true;
      out.push(`| ${rate} MiB/s | 0 of ${RUNS} | | | | | | ${errors.join('; ')} |`);
      continue;
    }
    const m = (pick: (run: GuardRun) => number | undefined) => median(runs.flatMap((run) => (pick(run) === undefined ? [] : [pick(run)!])));
    const totals = runs.map((run) => run.signalSentMs - run.crossedMs);
    const by = [...new Set(runs.map((run) => `${run.by} ×${runs.filter((other) => other.by === run.by).length}`))].join(', ');
    out.push(
      `| ${rate} MiB/s | ${runs.length} of ${RUNS} | ${f0(m((run) => run.daemonSawMs - run.crossedMs))} ms | ${f0(m((run) => run.deliveredMs - run.daemonSawMs))} ms | ` +
        `${f0(m((run) => run.signalSentMs - run.deliveredMs))} ms | **${f0(median(totals))} ms** (${f0(Math.min(...totals))}–${f0(Math.max(...totals))}) | ` +
        `${f0(m((run) => (run.receivedMs === undefined ? undefined : run.receivedMs - run.crossedMs)))} ms | ${by} |`,
    );
    if (errors.length > 0) out.push('', `Runs that failed at ${rate} MiB/s: ${errors.join('; ')}`, '');
    if (runs.some((run) => run.exitCode !== 137)) out.push('', `Exit statuses at ${rate} MiB/s: ${runs.map((run) => run.exitCode).join(', ')} (137 expected)`, '');
  }
  out.push('', 'Milliseconds; each cell a median over the runs. The crossing is timed by the balloon itself (the first of its steps after which MemAvailable was below the floor).');
  return failed;
}

await runPart('guard', main, log);
