/**
 * Another user against the state directory (issue 11, part 3), played for real: the user nobody
 * (and a uid no account has, which only owns files) plants a symlink on the way to it, squats a
 * name in a sticky directory, or plants symlinks and hard links at the names of files that root
 * writes in nobody's own state directory. The real binaries run as root or as nobody; a refusal
 * must be one line, exit status 125, and nothing created or changed; a planted name must leave the
 * file it points to with its bytes, mode and mtime. Failpoints (src/sys/failpoint.ts) stop our
 * processes at the moment an intruder would strike.
 */
import { chmodSync, chownSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { stoppedAtFailpoint } from '../helpers/lost-runs.js';
import { ownedTag } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { BIN, journalOf, startWrapper } from '../helpers/wrapper.js';
import { nobodyRunner } from '../helpers/zoo.js';
import { stateDirOwnedBy } from '../helpers/state-dirs.js';

const tag = ownedTag();
const db = sharedClient();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
const NO_DATABASE = { DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_RUN_DATABASE_URL: undefined };
/**
 * A bound far above what any command here needs: a hang fails the test instead of blocking it. A
 * cancel waits for its run to end, which took over 20 s once on a host loaded far beyond two busy
 * loops (load average 18 on 2 cores); each test's own bound is above it (TEST_MS).
 */
const HANG_MS = 60_000;
const TEST_MS = 3 * HANG_MS;
/** A uid with no account: it owns files, never runs anything. */
const STRANGER = 4242;
const nobody = await nobodyRunner();
const nobodyUid = nobody.skip === undefined ? nobody.owner.uid : -1;
const nobodyGid = nobody.skip === undefined ? nobody.owner.gid : -1;

/** A directory like /tmp: root's, mode 1777. */
function stickyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'scidex-sticky-'));
  chmodSync(dir, 0o1777);
  return dir;
}

/** Runs `command` as nobody, with the test's tag and no database. */
function asNobody(command: string[], env: Record<string, string | undefined> = {}) {
  return execa('runuser', ['-u', 'nobody', '--', ...command], { reject: false, stdin: 'ignore', timeout: HANG_MS, env: { ...NO_DATABASE, SCIDEX_TEST_TAG: tag, ...env } });
}

/** scidex-run as nobody. */
function runAsNobody(args: string[], env: Record<string, string | undefined> = {}) {
  return asNobody([process.execPath, BIN, ...args], env);
}

/** scidex-watchdog as root, with the test's tag and no database unless given. */
function watchdog(args: string[], env: Record<string, string | undefined> = {}) {
  return execa(WATCHDOG, args, { reject: false, stdin: 'ignore', timeout: HANG_MS, env: { ...NO_DATABASE, SCIDEX_TEST_TAG: tag, ...env } });
}

/** Plants, as nobody, a symlink at each `link` to `target`. */
async function plantSymlinks(...pairs: [target: string, link: string][]): Promise<void> {
  const planted = await asNobody(['sh', '-c', 'while [ $# -gt 0 ]; do ln -s "$1" "$2" || exit 1; shift 2; done', 'plant', ...pairs.flat()]);
  expect(planted.exitCode, planted.stderr).toBe(0);
  for (const [, link] of pairs) expect(lstatSync(link).uid).toBe(nobodyUid);
}

/** A file of root's outside every state directory, and a check that it is exactly as it was. */
function victim(): { path: string; untouched(): void } {
  const path = join(mkdtempSync(join(tmpdir(), 'scidex-victim-')), 'victim');
  const content = `the victim of ${tag}\n`;
  writeFileSync(path, content, { mode: 0o600 });
  const facts = (stat = statSync(path)) => ({ uid: stat.uid, mode: stat.mode, size: stat.size, mtimeMs: stat.mtimeMs });
  const before = facts();
  return {
    path,
    untouched() {
      expect(facts()).toEqual(before);
      expect(readFileSync(path, 'utf8')).toBe(content);
    },
  };
}

/**
 * nobody's state directory where root gave it: in a directory of root's (mode 0755) that no one
 * else can write, with its journal, running and rejected directories as nobody's runs left them.
 */
function nobodysStateDir(): string {
  return stateDirOwnedBy(nobodyUid, nobodyGid);
}

function expectRefused(result: { exitCode?: number; stderr: string }, message: RegExp): void {
  expect(result.exitCode, result.stderr).toBe(125);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr.trim()).toMatch(message);
}

/** The run id of the one marker (`running/<id>.json`) of a state directory, once there is one. */
async function markedRun(stateDir: string): Promise<string> {
  const markers = () => readdirSync(join(stateDir, 'running')).filter((name) => /^[0-9a-f-]{36}\.json$/.test(name));
  await until('one marker', () => markers().length === 1, HANG_MS);
  return markers()[0].slice(0, -'.json'.length);
}

describe.skipIf(nobody.skip !== undefined)(`a state directory another user could control is refused${nobody.skip ? ` (skipped: ${nobody.skip})` : ''}`, { timeout: TEST_MS }, () => {
  it('as root, through a symlink nobody planted in a sticky directory: by every command, its target left as it was', async () => {
    const sticky = stickyDir();
    const target = mkdtempSync(join(tmpdir(), 'scidex-target-'));
    chmodSync(target, 0o755);
    writeFileSync(join(target, 'keep'), 'keep\n');
    const link = join(sticky, 'state');
    await plantSymlinks([target, link]);
    const ran = join(mkdtempSync(join(tmpdir(), 'scidex-ran-')), 'ran');
    const refused = /^scidex-(run|watchdog): state directory '.*\/state' refused: '.*\/state' is a symlink owned by uid \d+ \(nobody\), who can point it anywhere; only symlinks of root are followed$/;

    expectRefused(await startWrapper(['--state-dir', link, '--', 'touch', ran], { tag }), refused);
    expectRefused(await watchdog(['reap', '--state-dir', link]), refused);
    expectRefused(await watchdog(['ship', '--state-dir', link, '--database-url', db.url]), refused);
    expectRefused(await watchdog(['cancel', '--analysis-id', 'x', '--state-dir', link]), refused);
    expectRefused(await watchdog(['serve', '--listen', '127.0.0.1:0', '--state-dir', link]), refused);
    expect(existsSync(ran)).toBe(false);
    expect(statSync(target).mode & 0o7777).toBe(0o755);
    expect(readdirSync(target)).toEqual(['keep']);
  });

  it("as root, a symlink of root's in a directory of nobody's, who could swap it", async () => {
    const target = mkdtempSync(join(tmpdir(), 'scidex-target-'));
    const link = join(nobodysStateDir(), 'link');
    symlinkSync(target, link);
    expectRefused(
      await startWrapper(['--state-dir', link, '--', 'true'], { tag }),
      /refused: '.*\/state\/link' is a symlink in '.*\/state', which belongs to uid \d+ \(nobody\), who can replace it; only symlinks in directories of root are followed$/,
    );
    expect(readdirSync(target)).toEqual([]);
  });

  it('as root, a directory nobody made in a sticky directory, or one below it', async () => {
    const sticky = stickyDir();
    const squat = join(sticky, 'squat');
    expect((await asNobody(['mkdir', '-m', '700', squat])).exitCode).toBe(0);
    const ran = join(sticky, 'ran');
    for (const stateDir of [squat, join(squat, 'state')]) {
      expectRefused(
        await startWrapper(['--state-dir', stateDir, '--', 'touch', ran], { tag }),
        /refused: '.*\/squat' belongs to uid \d+ \(nobody\) and lies in '.*', which (its group and )?others can write \(mode 1777\): anyone could have made it there$/,
      );
    }
    expect(existsSync(ran)).toBe(false);
    expect(readdirSync(squat)).toEqual([]);
    expect(statSync(squat).mode & 0o7777).toBe(0o700);
  });

  it("as nobody: root's directory, another uid's directory on the way, another uid's symlink, a group-writable own one", async () => {
    const sticky = stickyDir();
    const roots = join(sticky, 'roots');
    mkdirSync(roots);
    // Writable by nobody: without the check, the run would have gone into it.
    chmodSync(roots, 0o777);
    const stranger = join(sticky, 'stranger');
    mkdirSync(stranger, { mode: 0o755 });
    chownSync(stranger, STRANGER, STRANGER);
    const own = join(sticky, 'own');
    mkdirSync(own, { mode: 0o700 });
    chownSync(own, nobodyUid, nobodyGid);
    const strangersLink = join(sticky, 'link');
    symlinkSync(own, strangersLink);
    lchownSync(strangersLink, STRANGER, STRANGER);
    const shared = join(sticky, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o770);
    chownSync(shared, nobodyUid, nobodyGid);
    const ran = join(sticky, 'ran');
    const cases: [string, RegExp][] = [
      [roots, /^scidex-run: state directory '.*\/roots' refused: '.*\/roots' belongs to uid 0 \(root\), not to you, uid \d+ \(nobody\)$/],
      [join(stranger, 'state'), /refused: '.*\/stranger' belongs to uid 4242, neither to root nor to you, uid \d+ \(nobody\)$/],
      [strangersLink, /refused: '.*\/link' is a symlink owned by uid 4242, who can point it anywhere; only symlinks of root or you, uid \d+ \(nobody\), are followed$/],
      [shared, /refused: '.*\/shared' can be written by its group \(mode 0770\); run chmod 700 '.*\/shared'$/],
    ];
    for (const [stateDir, message] of cases) expectRefused(await runAsNobody(['--state-dir', stateDir, '--', 'touch', ran]), message);
    expect(existsSync(ran)).toBe(false);
    expect(statSync(roots).mode & 0o7777).toBe(0o777);
    expect(statSync(shared).mode & 0o7777).toBe(0o770);
    for (const dir of [roots, stranger, own, shared]) expect(readdirSync(dir)).toEqual([]);
  });

  it("still opens a fresh --state-dir (0700 whatever the umask), a user's default one, and, for root, a user's own (never chmodded)", async () => {
    const fresh = join(mkdtempSync(join(tmpdir(), 'scidex-fresh-')), 'a', 'b');
    const root = await startWrapper(['--quiet', '--state-dir', fresh, '--', 'true'], { tag });
    expect(root.exitCode, root.stderr).toBe(0);
    for (const dir of [join(fresh, '..'), fresh, join(fresh, 'journal')]) expect(statSync(dir).mode & 0o7777).toBe(0o700);

    const sticky = stickyDir();
    const umasked = join(sticky, 'umasked', 'state');
    const masked = await asNobody(['sh', '-c', 'umask 0777 && exec "$@"', 'sh', process.execPath, BIN, '--quiet', '--state-dir', umasked, '--', 'true']);
    expect(masked.exitCode, masked.stderr).toBe(0);
    for (const dir of [join(umasked, '..'), umasked, join(umasked, 'journal')]) {
      expect(statSync(dir).uid).toBe(nobodyUid);
      expect(statSync(dir).mode & 0o7777).toBe(0o700);
    }

    const xdg = join(sticky, 'xdg');
    expect((await asNobody(['mkdir', xdg])).exitCode).toBe(0);
    const byDefault = await runAsNobody(['--quiet', '--', 'true'], { XDG_STATE_HOME: xdg, SCIDEX_RUN_STATE_DIR: undefined });
    expect(byDefault.exitCode, byDefault.stderr).toBe(0);
    expect(readdirSync(join(xdg, 'scidex-run', 'journal')).filter((name) => name.endsWith('.jsonl'))).toHaveLength(1);

    const parent = mkdtempSync(join(tmpdir(), 'scidex-home-'));
    const users = join(parent, 'user');
    mkdirSync(users, { mode: 0o750 });
    chownSync(users, nobodyUid, nobodyGid);
    const served = await startWrapper(['--quiet', '--state-dir', users, '--', 'true'], { tag });
    expect(served.exitCode, served.stderr).toBe(0);
    expect(statSync(users).uid).toBe(nobodyUid);
    expect(statSync(users).mode & 0o7777).toBe(0o750);
    expect(journalOf(users).runs.at(-1)).toMatchObject({ status: 'completed' });
  });
});

describe.skipIf(nobody.skip !== undefined)(`names planted in nobody's state directory are never followed by root${nobody.skip ? ` (skipped: ${nobody.skip})` : ''}`, { timeout: TEST_MS }, () => {
  it("a run: its marker, the marker's temporary file and lock, its cancel request and its shipped mark planted as symlinks while it starts", async () => {
    const stateDir = nobodysStateDir();
    const target = victim();
    const run = startWrapper(['--quiet', '--database-url', db.url, '--', 'true'], { tag, stateDir, env: { SCIDEX_FAILPOINTS: 'journal-created' } });
    const wrapper = await stoppedAtFailpoint(run.pid);
    let runId = '';
    try {
      runId = readdirSync(join(stateDir, 'journal')).find((name) => name.endsWith('.jsonl'))!.slice(0, -'.jsonl'.length);
      const running = (suffix: string) => join(stateDir, 'running', `${runId}${suffix}`);
      await plantSymlinks(
        [target.path, running('.json')],
        // The name its temporary file had while it was only the wrapper's pid: now it has a random part too.
        [target.path, running(`.json.${wrapper}.tmp`)],
        [target.path, running('.json.lock')],
        [target.path, running('.cancel')],
        [target.path, join(stateDir, 'journal', `${runId}.shipped`)],
      );
    } finally {
      process.kill(wrapper, 'SIGCONT');
    }
    const result = await run;
    expect(result.exitCode, result.stderr).toBe(0);
    target.untouched();
    // The mark is ours now, put in place over the symlink; the marker came and went the same way.
    expect(lstatSync(join(stateDir, 'journal', `${runId}.shipped`)).isFile()).toBe(true);
    expect(existsSync(join(stateDir, 'running', `${runId}.json`))).toBe(false);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'completed' });
  });

  it('ship: a shipped mark planted as it ships, a rejected file planted as a symlink, its lock as a hard link', async () => {
    const stateDir = nobodysStateDir();
    const target = victim();
    const linked = victim();
    const first = await startWrapper(['--quiet', '--', 'true'], { tag, stateDir });
    expect(first.exitCode, first.stderr).toBe(0);
    const name = readdirSync(join(stateDir, 'journal')).find((file) => file.endsWith('.jsonl'))!;
    const journal = join(stateDir, 'journal', name);
    writeFileSync(journal, JSON.stringify({ table: 'gossip', record: {} }) + '\n', { flag: 'a' });
    await plantSymlinks([target.path, join(stateDir, 'rejected', name)]);
    // Where fs.protected_hardlinks is 0, anyone may link a file they can see: root plays that intruder.
    linkSync(linked.path, join(stateDir, 'journal', '.ship.lock'));

    const shipper = watchdog(['ship', '--json', '--state-dir', stateDir, '--database-url', db.url], { SCIDEX_FAILPOINTS: 'ship-written' });
    const stopped = await stoppedAtFailpoint(shipper.pid);
    try {
      await plantSymlinks([target.path, journal.replace(/\.jsonl$/, '.shipped')]);
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
    const shipped = await shipper;
    expect(shipped.exitCode, shipped.stderr).toBe(0);
    expect(JSON.parse(shipped.stdout)).toMatchObject({ done: true, rejected: 1 });
    target.untouched();
    linked.untouched();
    expect(lstatSync(journal.replace(/\.jsonl$/, '.shipped')).isFile()).toBe(true);
    const rejected = join(stateDir, 'rejected', name);
    expect(lstatSync(rejected).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(rejected, 'utf8'))).toMatchObject({ code: 'not_a_record' });
  });

  it('cancel: a cancel request planted as a symlink; the request is delivered and recorded all the same', async () => {
    const stateDir = nobodysStateDir();
    const target = victim();
    const run = startWrapper(['--quiet', '--', 'sleep', '30'], { tag, stateDir });
    const runId = await markedRun(stateDir);
    await plantSymlinks([target.path, join(stateDir, 'running', `${runId}.cancel`)]);
    const cancel = await watchdog(['cancel', runId, '--reason', 'intruder test', '--state-dir', stateDir]);
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    expect((await run).exitCode).toBe(143);
    target.untouched();
    const event = journalOf(stateDir).events.find((candidate) => candidate.kind === 'cancel_requested');
    expect(event).toMatchObject({ detail: { reason: 'intruder test' } });
  });

  it("reap: the lock of a dead wrapper's run planted as a symlink; the run is reaped all the same", async () => {
    const stateDir = nobodysStateDir();
    const target = victim();
    const run = startWrapper(['--quiet', '--', 'sleep', '30'], { tag, stateDir });
    const runId = await markedRun(stateDir);
    await plantSymlinks([target.path, join(stateDir, 'running', `${runId}.json.lock`)]);
    process.kill(run.pid!, 'SIGKILL');
    await run;
    // Its lifeline's reaper may be at it already: then this one finds it busy, or finished.
    const reap = await watchdog(['reap', '--state-dir', stateDir]);
    expect(reap.exitCode, reap.stderr).toBe(0);
    await until("the run's marker to be removed", () => !existsSync(join(stateDir, 'running', `${runId}.json`)), HANG_MS);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'lost' });
    target.untouched();
  });

  it('serve: its heartbeat file and its lock planted as symlinks; a state directory opened to its group meanwhile stops its sweeps', async () => {
    const stateDir = nobodysStateDir();
    const target = victim();
    const heartbeat = join(stateDir, 'watchdog.json');
    await plantSymlinks([target.path, heartbeat], [target.path, join(stateDir, 'serve.lock')]);
    const daemon = execa(WATCHDOG, ['serve', '--listen', '127.0.0.1:0', '--interval', '200ms', '--state-dir', stateDir], {
      reject: false,
      stdin: 'ignore',
      env: { ...NO_DATABASE, SCIDEX_TEST_TAG: tag },
    });
    let log = '';
    daemon.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      await until('the daemon to write its heartbeat as a file of its own', () => lstatSync(heartbeat, { throwIfNoEntry: false })?.isFile() === true, HANG_MS);
      expect((await asNobody(['chmod', '770', stateDir])).exitCode).toBe(0);
      const refusal = /sweep failed: state directory '.*\/state' refused: '.*\/state' can be written by its group \(mode 0770\); run chmod 700/;
      await until(() => `the refusal in the daemon's log:\n${log}`, () => refusal.test(log), HANG_MS);
    } finally {
      daemon.kill('SIGTERM');
    }
    const stopped = await daemon;
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    target.untouched();
    expect(statSync(stateDir).mode & 0o7777).toBe(0o770);
  });
});
