// The end of a bench part: print the report, then clean up in order (background processes first,
// they hold connections; then the databases; then the servers we started) and check by pid that
// nothing of ours survived. Sets process.exitCode: 1 when the part failed or left something alive.
import { rmSync } from 'node:fs';
import { readStat } from '../../../src/proc/stat.js';
import { WORK } from './context.js';
import type { BenchDatabase, Server } from './db.js';
import { settle } from './processes.js';

export async function finishPart(
  part: string,
  report: { toString(): string },
  failed: boolean,
  databases: readonly BenchDatabase[],
  servers: readonly Server[],
  settleMs: number,
): Promise<void> {
  let status = failed ? 1 : 0;
  console.log(report.toString());
  const left = await settle(failed ? 0 : settleMs);
  for (const db of databases) await db.drop().catch((error: unknown) => console.error(`bench(${part}): cannot drop ${db.name}: ${error}`));
  for (const server of servers) await server.stop().catch((error: unknown) => console.error(`bench(${part}): cannot stop ${server.label}: ${error}`));
  rmSync(WORK, { recursive: true, force: true });
  const embedded = servers.filter((server) => server.pid !== undefined);
  const serversAlive = embedded.filter((server) => readStat(server.pid!) !== undefined);
  console.log(
    `\nFinal check: ${left.killed.length} processes of ours still running at the end (killed by pid${left.killed.length > 0 ? `: ${left.killed.join('; ')}` : ''}), ` +
      `${left.alive.length} alive after that; ${databases.length} bench database${databases.length === 1 ? '' : 's'} dropped; embedded servers started ${embedded.length}, still running ${serversAlive.length}.`,
  );
  if (left.killed.length > 0 || left.alive.length > 0 || serversAlive.length > 0) status = 1;
  process.exitCode = status;
}

/**
 * The whole of a part without databases or servers: runs `main` (which appends the report's lines
 * and returns whether the part failed), adds how long it took, then finishes as finishPart does.
 */
export async function runPart(part: string, main: (out: string[]) => Promise<boolean>, log?: (line: string) => void): Promise<void> {
  const out: string[] = [];
  const t0 = performance.now();
  let failed = true;
  try {
    failed = await main(out);
  } catch (error) {
    console.error(`bench(${part}): ${(error as Error).stack ?? error}`);
  }
  const took = `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  log?.(`done in ${took}`);
  out.push(`Part took ${took}.`);
  await finishPart(part, { toString: () => out.join('\n') }, failed, [], [], 5000);
}
