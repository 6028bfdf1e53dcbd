/**
 * A private single-node Slurm for the tests: Debian's slurm-wlm and munge, run in the foreground
 * as our own children (munged, slurmctld, slurmd) from a temporary directory with a munge key, a
 * slurm.conf and loopback ports of their own, so nothing of a system Slurm is used or touched.
 * Clients find it through SLURM_CONF. Stopped by pid (server-host.ts), after its jobs are gone.
 * Root only: slurmd runs the jobs as their submitter and needs to switch users.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeLoopbackPort, spawnServer, type ServerChild } from './server-host.js';
import { until } from './until.js';

const run = promisify(execFile);

/** A running Slurm of a test. */
export interface Slurm {
  /** The environment of its clients (sbatch, scancel, scontrol): SLURM_CONF. */
  env: Record<string, string>;
  /** Its KillWait, seconds: between the SIGTERM of a cancel or time limit and the SIGKILL. */
  killWaitS: number;
  /** `scontrol show job ID`'s fields (JobState, Reason, ...); undefined once the job is forgotten. */
  job(id: string): Promise<Record<string, string> | undefined>;
  /** Cancels what is left, waits for it, and stops the daemons by pid. */
  stop(): Promise<void>;
}

const BINARIES = ['/usr/sbin/munged', '/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/sbatch', '/usr/bin/scontrol'];

/** Why no private Slurm can run here, or undefined when it can. */
export function slurmUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  const missing = BINARIES.filter((path) => !existsSync(path));
  return missing.length > 0 ? `no ${missing.join(', ')} (Debian's slurm-wlm and munge)` : undefined;
}

/**
 * Starts munged, slurmctld and slurmd, and waits until the node is idle.
 * @param killWaitS Slurm's KillWait, seconds
 * @throws when a daemon does not come up (its stderr in the message)
 */
export async function startSlurm(killWaitS: number): Promise<Slurm> {
  const dir = mkdtempSync(join(tmpdir(), 'scidex-slurm-'));
  for (const sub of ['state', 'spool', 'munge']) mkdirSync(join(dir, sub), { mode: 0o700 });
  const key = join(dir, 'munge', 'munge.key');
  writeFileSync(key, randomBytes(128), { mode: 0o600 });
  const socket = join(dir, 'munge', 'socket');
  const daemons: ServerChild[] = [];
  const stopDaemons = async () => {
    for (const daemon of daemons.reverse()) await daemon.stop();
  };
  try {
    daemons.push(await spawnServer('munged', '/usr/sbin/munged', ['-F', '--force', `--key-file=${key}`, `--socket=${socket}`, `--pid-file=${join(dir, 'munge', 'pid')}`, `--seed-file=${join(dir, 'munge', 'seed')}`, `--log-file=${join(dir, 'munge', 'log')}`]));
    await until('munged', () => existsSync(socket), 60_000);
    const [controller, node] = [await freeLoopbackPort(), await freeLoopbackPort()];
    const host = hostname();
    const conf = join(dir, 'slurm.conf');
    writeFileSync(conf, [
      'ClusterName=scidex', `SlurmctldHost=${host}`, 'SlurmUser=root', 'SlurmdUser=root',
      'AuthType=auth/munge', `AuthInfo=socket=${socket}`, 'CredType=cred/munge',
      `StateSaveLocation=${join(dir, 'state')}`, `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`, `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`, `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
      `SlurmctldPort=${controller}`, `SlurmdPort=${node}`,
      'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none', 'JobAcctGatherType=jobacct_gather/none',
      'SchedulerType=sched/builtin', 'SelectType=select/cons_tres', 'SelectTypeParameters=CR_Core',
      'ReturnToService=2', `KillWait=${killWaitS}`, 'MinJobAge=600',
      `NodeName=${host} CPUs=${cpus().length} RealMemory=1000 State=UNKNOWN`,
      `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
    ].join('\n') + '\n');
    daemons.push(await spawnServer('slurmctld', '/usr/sbin/slurmctld', ['-D', '-i', '-f', conf]));
    daemons.push(await spawnServer('slurmd', '/usr/sbin/slurmd', ['-D', '-f', conf]));
    const env = { SLURM_CONF: conf };
    const client = (command: string, args: string[]) => run(command, args, { env: { ...process.env, ...env } });
    await until('the Slurm node to be idle', async () => (await client('sinfo', ['-h', '-o', '%T']).catch(() => ({ stdout: '' }))).stdout.trim() === 'idle', 60_000);
    const job = async (id: string) => {
      const { stdout } = await client('scontrol', ['-o', 'show', 'job', id]).catch(() => ({ stdout: '' }));
      if (stdout.trim() === '') return undefined;
      return Object.fromEntries(stdout.trim().split(/\s+/).map((field) => [field.split('=')[0], field.split('=').slice(1).join('=')]));
    };
    return {
      env,
      killWaitS,
      job,
      stop: async () => {
        await client('scancel', ['--full', '--partition', 'debug']).catch(() => undefined);
        await until('the jobs to end', async () => (await client('squeue', ['-h']).catch(() => ({ stdout: '' }))).stdout.trim() === '', 60_000);
        await stopDaemons();
      },
    };
  } catch (error) {
    const said = daemons.map((daemon) => daemon.stderr().trim()).filter(Boolean).join('; ');
    await stopDaemons();
    throw new Error(`${(error as Error).message}${said ? ` (${said})` : ''}`, { cause: error });
  }
}
