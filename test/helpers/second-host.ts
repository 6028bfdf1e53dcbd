/**
 * A second host on this machine, for what crosses hosts (the fleet view): a process started through
 * `asHost(name)` runs in a UTS namespace of its own (unshare(1) --uts, which needs CAP_SYS_ADMIN)
 * whose hostname is `name`, so os.hostname() (gethostname(2), the UTS nodename) says `name` there.
 * Nothing else is separate: it shares this host's processes, files and loopback, so each "host"
 * needs a state directory of its own, and both reach the same PostgreSQL.
 *
 * The prefix execs: unshare(1) without --fork execs sh, which sets the name and execs the command,
 * so the pid a test holds is the command's own.
 */
import { execFileSync } from 'node:child_process';

/** argv to put before a command (as WrapperOptions.via, or before a daemon's argv) so that it runs as host `name`. */
export function asHost(name: string): string[] {
  return ['unshare', '--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', name];
}

/** Why a second host cannot be made here (not root, no unshare(1)), or undefined when it can. */
export function secondHostUnavailable(): string | undefined {
  try {
    const name = execFileSync(asHost('scidex-probe')[0], [...asHost('scidex-probe').slice(1), 'hostname'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return name.trim() === 'scidex-probe' ? undefined : `unshare --uts gave the hostname '${name.trim()}'`;
  } catch (error) {
    return `unshare --uts failed (it needs root or CAP_SYS_ADMIN): ${(error as Error).message.split('\n')[0]}`;
  }
}
