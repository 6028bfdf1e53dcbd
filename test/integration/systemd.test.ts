/**
 * Self-monitoring under systemd: sd_notify messages through a REAL notify socket (a test-owned
 * python receiver, since Node cannot bind AF_UNIX datagram sockets), the packaged unit checked by
 * systemd-analyze verify, and the reaper run with exactly the unit's capability bounding set.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readStat } from '../../src/proc/stat.js';
import { notifier, startWatchdogPings, type Notifier } from '../../src/sys/sd-notify.js';
import { forgeRun } from '../helpers/lost-runs.js';
import { ownedTag } from '../helpers/processes.js';
import { stateDirOwnedBy } from '../helpers/state-dirs.js';
import { until } from '../helpers/until.js';
import { BIN, journalOf, newStateDir } from '../helpers/wrapper.js';

const tag = ownedTag();
const RECEIVER = fileURLToPath(new URL('../fixtures/notify-receiver.py', import.meta.url));
const UNIT = fileURLToPath(new URL('../../packaging/systemd/scidex-watchdog.service', import.meta.url));
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
const ENV_KEYS = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

interface Receiver {
  socket: string;
  /** The datagrams received so far, in order. */
  messages(): string[];
  stop(): Promise<void>;
}

const receivers: Receiver[] = [];

/** Starts the python receiver on `socket` (a path, or '@name' for the abstract namespace). */
async function startReceiver(socket?: string): Promise<Receiver> {
  const dir = mkdtempSync(join(tmpdir(), 'scidex-notify-'));
  const address = socket ?? join(dir, 'notify.sock');
  const out = join(dir, 'received.jsonl');
  const ready = join(dir, 'ready');
  const child: ChildProcess = spawn('python3', [RECEIVER, address, out, ready], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, SCIDEX_TEST_TAG: tag },
  });
  // python3 through pyenv's shims starts in seconds on a loaded host: the bound only catches a receiver that never binds.
  await until('the notify receiver to bind', () => existsSync(ready), 60_000);
  const receiver: Receiver = {
    socket: address,
    messages: () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as string) : []),
    stop: async () => {
      // By pid, the child we spawned; never by name.
      if (child.pid !== undefined && child.pid > 1 && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  receivers.push(receiver);
  return receiver;
}

let savedEnv: Partial<Record<(typeof ENV_KEYS)[number], string>> = {};
beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));
});
afterEach(async () => {
  for (const key of ENV_KEYS) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
  while (receivers.length > 0) await receivers.pop()!.stop();
});

/** Sets the variables systemd gives a Type=notify service with WatchdogSec= (in the real environment). */
function systemdEnv(socket: string, watchdogUsec?: number, watchdogPid: number = process.pid): void {
  process.env.NOTIFY_SOCKET = socket;
  if (watchdogUsec === undefined) {
    delete process.env.WATCHDOG_USEC;
    delete process.env.WATCHDOG_PID;
  } else {
    process.env.WATCHDOG_USEC = String(watchdogUsec);
    process.env.WATCHDOG_PID = String(watchdogPid);
  }
}

const count = (messages: string[], text: string): number => messages.filter((message) => message === text).length;

/**
 * Datagrams of one socket arrive in order: once this STATUS is in, every datagram sent before it is too.
 * The receiver is a python3 of its own that writes what it gets to a file: on a host loaded by the
 * suite it may take seconds to, hence hang bounds of 60 s on what it received.
 */
async function fence(notify: Notifier, receiver: Receiver, name: string): Promise<void> {
  notify.status(`fence-${name}`);
  await until(`fence ${name}`, () => receiver.messages().includes(`STATUS=fence-${name}`), 60_000);
}

describe.each(['libsystemd', 'libc'] as const)('sd_notify through a real notify socket (%s)', (prefer) => {
  it('delivers READY=1 with STATUS, STATUS and STOPPING=1, one datagram each, in order', async () => {
    const receiver = await startReceiver();
    systemdEnv(receiver.socket);
    const errors: Error[] = [];
    const notify = notifier({ prefer, onError: (error) => errors.push(error) });
    expect(notify.backend).toBe(prefer);
    expect(notify.watchdogIntervalMs).toBeUndefined();
    notify.ready('sweeping every 30s');
    notify.status('last sweep: 2 runs reaped\nsecond line');
    notify.watchdog(); // no watchdog for us: not sent
    notify.stopping();
    await fence(notify, receiver, 'end');
    expect(receiver.messages()).toEqual(['READY=1\nSTATUS=sweeping every 30s', 'STATUS=last sweep: 2 runs reaped second line', 'STOPPING=1', 'STATUS=fence-end']);
    expect(errors).toEqual([]);
  });

  it('pings WATCHDOG=1 every WATCHDOG_USEC/2 while healthy, none while unhealthy or after stop', async () => {
    const receiver = await startReceiver();
    systemdEnv(receiver.socket, 200_000);
    const notify = notifier({ prefer });
    expect(notify.watchdogIntervalMs).toBe(100);
    let healthy = true;
    const stop = startWatchdogPings(notify, () => healthy);
    try {
      await until('four pings', () => count(receiver.messages(), 'WATCHDOG=1') >= 4, 60_000);
      healthy = false;
      await fence(notify, receiver, '1');
      const frozen = count(receiver.messages(), 'WATCHDOG=1');
      // Not a wait on a condition: no ping in 500 ms (five intervals) is what is asserted.
      await sleep(500);
      expect(count(receiver.messages(), 'WATCHDOG=1')).toBe(frozen);
      healthy = true;
      await until('two more pings once healthy again', () => count(receiver.messages(), 'WATCHDOG=1') >= frozen + 2, 60_000);
    } finally {
      stop();
    }
    await fence(notify, receiver, '2');
    const stopped = count(receiver.messages(), 'WATCHDOG=1');
    // Not a wait on a condition: no ping in 500 ms after stop() is what is asserted.
    await sleep(500);
    expect(count(receiver.messages(), 'WATCHDOG=1')).toBe(stopped);
    expect(receiver.messages().every((message) => message === 'WATCHDOG=1' || message.startsWith('STATUS=fence-'))).toBe(true);
  });

  it('sends no ping when WATCHDOG_PID names another process (an inherited watchdog is not ours)', async () => {
    const receiver = await startReceiver();
    systemdEnv(receiver.socket, 200_000, process.pid === 2 ? 3 : 2);
    const notify = notifier({ prefer });
    expect(notify.backend).toBe(prefer);
    expect(notify.watchdogIntervalMs).toBeUndefined();
    const stop = startWatchdogPings(notify, () => true);
    notify.watchdog();
    // Not a wait on a condition: no ping in 600 ms (six intervals of the watchdog that is not ours) is what is asserted.
    await sleep(600);
    stop();
    notify.ready(); // the socket works: READY=1 arrives, and it is all that does
    await fence(notify, receiver, 'end');
    expect(receiver.messages()).toEqual(['READY=1', 'STATUS=fence-end']);
  });

  it('reaches an abstract socket (NOTIFY_SOCKET=@name)', async () => {
    const receiver = await startReceiver(`@scidex-test-notify-${tag}`);
    systemdEnv(receiver.socket);
    const notify = notifier({ prefer });
    expect(notify.backend).toBe(prefer);
    notify.ready();
    await until('a datagram', () => receiver.messages().length >= 1, 60_000);
    expect(receiver.messages()).toEqual(['READY=1']);
  });
});

describe('backend choice', () => {
  it('falls back to libc when libsystemd would read another NOTIFY_SOCKET than the one given', async () => {
    const receiver = await startReceiver();
    delete process.env.NOTIFY_SOCKET;
    const notify = notifier({ env: { NOTIFY_SOCKET: receiver.socket, WATCHDOG_USEC: '400000' } });
    expect(notify.backend).toBe('libc');
    expect(notify.watchdogIntervalMs).toBe(200);
    notify.ready();
    notify.watchdog();
    await until('two datagrams', () => receiver.messages().length >= 2, 60_000);
    expect(receiver.messages()).toEqual(['READY=1', 'WATCHDOG=1']);
  });

  it('reports a socket it cannot reach, never throws', async () => {
    const errors: Error[] = [];
    const gone = notifier({ env: { NOTIFY_SOCKET: join(mkdtempSync(join(tmpdir(), 'scidex-notify-')), 'absent.sock') }, onError: (error) => errors.push(error) });
    expect(gone.backend).toBe('libc');
    gone.ready();
    expect(errors.map((error) => error.message)).toEqual([expect.stringMatching(/sendto\(.*\): ENOENT/)]);
    const vsock = notifier({ env: { NOTIFY_SOCKET: 'vsock:2:1234' }, prefer: 'libc' });
    expect(vsock.backend).toBe('unavailable');
    expect(vsock.reason).toMatch(/neither an absolute path/);
    vsock.ready();
  });
});

/** The unit as a map of section -> key -> values (a key may repeat; systemd.syntax(7), no line continuations used). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const equals = line.indexOf('=');
    if (!current || equals < 0) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, equals).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(equals + 1).trim()]);
  }
  return sections;
}

describe('packaging/systemd/scidex-watchdog.service', () => {
  const unit = parseUnit(readFileSync(UNIT, 'utf8'));
  const service = unit.get('Service')!;
  const value = (key: string): string | undefined => service.get(key)?.at(-1);

  it('has the directives of the brief: notify, watchdog, restart, caps, hardening', () => {
    expect(value('Type')).toBe('notify');
    expect(value('NotifyAccess')).toBe('main');
    expect(value('ExecStart')).toBe('/usr/local/bin/scidex-watchdog serve');
    expect(value('Restart')).toBe('always');
    expect(value('RestartSec')).toBe('2');
    expect(value('WatchdogSec')).toBe('30');
    expect(value('EnvironmentFile')).toBe('-/etc/default/scidex-watchdog');
    expect(value('MemoryMax')).toBe('256M');
    expect(value('CPUQuota')).toBe('50%');
    expect(value('TasksMax')).toBe('64');
    for (const key of ['NoNewPrivileges', 'PrivateTmp', 'ProtectKernelTunables', 'ProtectKernelModules', 'PrivateDevices']) expect(value(key), key).toBe('yes');
    expect(value('ProtectSystem')).toBe('strict');
    expect(value('ProtectHome')).toBe('read-only');
    expect(value('StateDirectory')).toBe('scidex-run');
    expect(service.get('ReadWritePaths')!.join(' ').split(/\s+/)).toContain('/sys/fs/cgroup');
    expect(value('RestrictAddressFamilies')!.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('keeps what reaping needs: root, every process visible, cgroupfs writable, kill and ptrace capabilities', () => {
    expect(value('User') ?? 'root').toBe('root');
    for (const key of ['ProtectProc', 'ProcSubset', 'PrivatePIDs', 'PrivateUsers', 'DynamicUser', 'PrivateNetwork', 'MemoryDenyWriteExecute']) {
      expect(value(key), key).toBeUndefined();
    }
    expect(value('ProtectControlGroups') ?? 'no').toBe('no');
    const caps = value('CapabilityBoundingSet')!.split(/\s+/);
    for (const cap of ['CAP_KILL', 'CAP_SYS_PTRACE', 'CAP_DAC_OVERRIDE']) expect(caps).toContain(cap);
    expect(value('KillMode') ?? 'control-group').toBe('control-group');
  });

  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((path) => existsSync(path));
  it.skipIf(!analyze)('passes systemd-analyze verify (ExecStart pointed at this checkout)', async () => {
    // verify checks that ExecStart's binary exists; /usr/local/bin/scidex-watchdog is not installed here.
    const dir = mkdtempSync(join(tmpdir(), 'scidex-unit-'));
    const copy = join(dir, 'scidex-watchdog.service');
    copyFileSync(UNIT, copy);
    writeFileSync(copy, readFileSync(copy, 'utf8').replace(/^ExecStart=\/usr\/local\/bin\/scidex-watchdog /m, `ExecStart=${WATCHDOG} `));
    const result = await execa(analyze!, ['verify', copy], { reject: false });
    // verify exits 0 on unknown keys and bad values and only warns, so its output must be empty.
    expect({ exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }).toEqual({ exitCode: 0, stdout: '', stderr: '' });
  });

  const canDropCaps = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');
  /** setpriv(1) with the unit's bounding set: execve then leaves root exactly these capabilities, as systemd does. */
  const setprivArgs = (caps: string[]): string[] => [
    '--no-new-privs',
    '--inh-caps=-all',
    `--bounding-set=-all,${caps.map((cap) => '+' + cap.replace(/^CAP_/, '').toLowerCase()).join(',')}`,
    '--',
  ];

  it.skipIf(!canDropCaps)("lets the reaper kill another user's leftover with only the unit's capabilities (and not without CAP_SYS_PTRACE)", async () => {
    const caps = value('CapabilityBoundingSet')!.split(/\s+/);
    const reapAs = async (bounding: string[], stateDir: string) => {
      const result = await execa('setpriv', [...setprivArgs(bounding), WATCHDOG, 'reap', '--json', '--state-dir', stateDir], {
        env: { DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined },
        reject: false,
      });
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      return JSON.parse(result.stdout) as { verdict: string; killed: number; refused: number };
    };
    const leftover = (runId: string) => {
      // A leftover of a run of user nobody: its /proc/PID/environ is readable only with CAP_SYS_PTRACE.
      const child = spawn('sleep', ['300'], { stdio: 'ignore', uid: 65534, gid: 65534, env: { PATH: process.env.PATH, SCIDEX_RUN_ID: runId, SCIDEX_TEST_TAG: tag } });
      return { child, pid: child.pid! };
    };
    /** Until then it is our fork, root's and with our environment; after it, nobody's `sleep` with the cookie. */
    const execed = (pid: number) => until(`process ${pid} to exec sleep`, () => readStat(pid)?.comm === 'sleep');

    // Without CAP_SYS_PTRACE the cookie cannot be read: the reaper refuses (the control for the line).
    // The record names it as the leader, so the refusal is logged with why.
    const deniedDir = newStateDir();
    const deniedId = randomUUID();
    const stranger = leftover(deniedId);
    try {
      await execed(stranger.pid);
      forgeRun(deniedDir, { id: deniedId, pid: stranger.pid, leader_starttime: readStat(stranger.pid)!.starttime });
      expect(await reapAs(caps.filter((cap) => cap !== 'CAP_SYS_PTRACE'), deniedDir)).toMatchObject({ verdict: 'lost', killed: 0, refused: 1 });
      expect(stranger.child.exitCode === null && stranger.child.signalCode === null).toBe(true);
      const refusal = journalOf(deniedDir).events.find((event) => event.kind === 'kill_refused');
      expect(refusal).toMatchObject({ pid: stranger.pid, reason: expect.stringMatching(/environment is unreadable here .*no CAP_SYS_PTRACE/) });
    } finally {
      if (stranger.pid > 1) stranger.child.kill('SIGKILL');
    }

    // With the unit's set it is found by its cookie and killed. The run is nobody's (its marker, in a
    // state directory of nobody's): a cookie counts only in a process of the run's own user, so a
    // nobody's process with the cookie of root's run would be left alone (intruders.test.ts).
    const stateDir = stateDirOwnedBy(65534, 65534);
    const run = forgeRun(stateDir, { username: 'nobody' });
    for (const file of [join(stateDir, 'running', `${run.id}.json`), run.journal_path]) chownSync(file, 65534, 65534);
    const victim = leftover(run.id);
    try {
      await execed(victim.pid);
      expect(await reapAs(caps, stateDir)).toMatchObject({ verdict: 'lost', killed: 1, refused: 0 });
      await until('the leftover to die', () => victim.child.exitCode !== null || victim.child.signalCode !== null, 5000);
      expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'lost' });
    } finally {
      if (victim.pid > 1 && victim.child.exitCode === null && victim.child.signalCode === null) victim.child.kill('SIGKILL');
    }
  });
});
