/**
 * The third-party fixtures (test/fixtures/third-party/): programs whose helpers (multiprocessing's
 * resource tracker and fork server, loky's workers, dask's worker processes, R's PSOCK workers) exit
 * by themselves a few milliseconds after the main process does. Shared by
 * test/integration/third-party-helpers.test.ts and the settle benchmark (scripts/bench/settle/).
 *
 * Which interpreter runs a Python fixture: the first of `python3` on PATH and Debian's /usr/bin/python3
 * that imports every module the fixture needs, by its real path (sys.executable), so no pyenv shim
 * (a bash script that forks helpers) runs in front of it. Debian's python3-* packages install into
 * /usr/bin/python3 only, which a PATH with pyenv first does not reach. Without such an interpreter (or
 * without Rscript on PATH) the fixture cannot run here, and `skip` says why.
 *
 * Plain module (no vitest), so the benchmark can bundle it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execaSync } from 'execa';

/** test/fixtures/third-party/, from this file (a bundle elsewhere passes its own to resolveFixture). */
export const THIRD_PARTY = fileURLToPath(new URL('../fixtures/third-party/', import.meta.url));

export interface ThirdPartyFixture {
  /** File name under test/fixtures/third-party/. */
  file: string;
  language: 'python' | 'r';
  /** Python modules it imports beyond the standard library. */
  modules: string[];
  /** Debian packages that provide them. */
  packages: string[];
}

export const FIXTURES: readonly ThirdPartyFixture[] = [
  { file: 'mp_spawn_pool.py', language: 'python', modules: [], packages: [] },
  { file: 'mp_forkserver_pool.py', language: 'python', modules: [], packages: [] },
  { file: 'joblib_loky.py', language: 'python', modules: ['joblib'], packages: ['python3-joblib'] },
  { file: 'dask_local_cluster.py', language: 'python', modules: ['dask', 'distributed'], packages: ['python3-dask', 'python3-distributed'] },
  { file: 'r_psock.R', language: 'r', modules: [], packages: ['r-base-core'] },
];

/** A fixture, with the command that runs it here, or the reason it cannot run here. */
export interface ResolvedFixture extends ThirdPartyFixture {
  /** The command (absolute interpreter path first); undefined when `skip` is set. */
  argv?: string[];
  skip?: string;
}

/** The real path behind `command` (sys.executable), or undefined when it does not run. */
function pythonBehind(command: string): string | undefined {
  try {
    const out = execaSync(command, ['-c', 'import sys; print(sys.executable)'], { reject: false, timeout: 20_000 });
    return out.exitCode === 0 && out.stdout.trim() !== '' ? out.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

const imports = (python: string, modules: readonly string[]): boolean =>
  modules.length === 0 || execaSync(python, ['-c', `import ${modules.join(', ')}`], { reject: false, timeout: 60_000 }).exitCode === 0;

/** Rscript's absolute path from PATH, or undefined. */
function rscript(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = join(dir, 'Rscript');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

let pythons: string[] | undefined;
/** Distinct real interpreters behind `python3` and /usr/bin/python3, in that order (resolved once). */
function pythonCandidates(): string[] {
  pythons ??= [...new Set(['python3', '/usr/bin/python3'].map(pythonBehind).filter((p): p is string => p !== undefined))];
  return pythons;
}

/**
 * How `fixture` runs on this host: `python -B <file>` (-B: no __pycache__ in the repo) or `Rscript --vanilla <file>`.
 * @param dir the folder of the fixtures
 */
export function resolveFixture(fixture: ThirdPartyFixture, dir = THIRD_PARTY): ResolvedFixture {
  const path = join(dir, fixture.file);
  if (fixture.language === 'r') {
    const r = rscript();
    return r ? { ...fixture, argv: [r, '--vanilla', path] } : { ...fixture, skip: `Rscript is not on PATH (apt-get install ${fixture.packages.join(' ')})` };
  }
  const candidates = pythonCandidates();
  const python = candidates.find((candidate) => imports(candidate, fixture.modules));
  if (python) return { ...fixture, argv: [python, '-B', path] };
  const tried = candidates.length > 0 ? candidates.join(', ') : 'no python3 found';
  return { ...fixture, skip: `no python3 here imports ${fixture.modules.join(', ') || 'multiprocessing'} (tried ${tried}; apt-get install ${fixture.packages.join(' ')})` };
}

/** Every fixture, resolved for this host. @param dir the folder of the fixtures */
export function resolveFixtures(dir = THIRD_PARTY): ResolvedFixture[] {
  return FIXTURES.map((fixture) => resolveFixture(fixture, dir));
}
