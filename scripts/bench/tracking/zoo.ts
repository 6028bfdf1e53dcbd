// The zoo programs (scripts/zoo) the parts run, and how each is started.
//
// Python is called by its real path, not through `python3`: pyenv's `python3` is a bash shim that
// forks helpers, which would be counted as members of the tree. Each zoo process appends
// `<pid> <starttime>` to $ZOO_PIDFILE, so survivors are found even when they cleared their environment.
import { join } from 'node:path';
import { execaSync } from 'execa';
import { ROOT } from './context.js';

export const ZOO = join(ROOT, 'scripts/zoo');
/** The interpreter itself, not a shim. */
const PYTHON = execaSync('python3', ['-c', 'import sys; print(sys.executable)']).stdout.trim();

/** The leader and `processes - 1` sleeping children, which die on SIGTERM. */
export const fanout = (processes: number): string[] => [PYTHON, join(ZOO, 'fanout.py'), String(processes - 1)];
/** ~300 live processes that ignore SIGTERM, each forking children that do the same. */
export const STORM = [PYTHON, join(ZOO, 'fork_storm.py')];

export interface Program {
  name: string;
  argv: string[];
  /** Whether the time from the kill decision to an empty tree is reported for it. */
  timed: boolean;
}

/** What the peers run, in the order of the report. */
export const PROGRAMS: Program[] = [
  { name: 'fan-out, 500 processes', argv: fanout(500), timed: true },
  { name: 'fork storm (ignores SIGTERM)', argv: STORM, timed: true },
  { name: 'double-fork setsid daemon (keeps its environment)', argv: [PYTHON, join(ZOO, 'double_fork_daemon.py')], timed: false },
  { name: 'environment-clearing setsid daemon (leader exits at once)', argv: [PYTHON, join(ZOO, 'clearenv_daemon.py')], timed: false },
  { name: 'setpgid escape (child + grandchild in a new group)', argv: [PYTHON, join(ZOO, 'setpgid_escape.py')], timed: false },
];
