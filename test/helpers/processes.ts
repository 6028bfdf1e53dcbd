/**
 * Every test owns the processes it starts: each gets a tag (SCIDEX_TEST_TAG=<uuid>) in the
 * environment of the wrapper, which every process of the run inherits. After the test, anything
 * still carrying the tag is a survivor: it is killed by pid (after re-checking the tag; never by
 * name, never pid <= 1) and reported, so the test fails.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect } from 'vitest';
import { hasEnvEntry } from '../../src/proc/environ.js';
import { listPids } from '../../src/proc/list.js';
import { isDead, readStat } from '../../src/proc/stat.js';
import { until } from './until.js';

/** A fresh tag; its environment entry is `SCIDEX_TEST_TAG=<tag>`. */
export function newTag(): string {
  return randomUUID();
}

/** PIDs of live (non-zombie) processes carrying the tag. */
export function tagged(tag: string): number[] {
  return listPids().filter((pid) => {
    if (pid <= 1 || pid === process.pid) return false;
    const stat = readStat(pid);
    return stat !== undefined && !isDead(stat) && hasEnvEntry(pid, `SCIDEX_TEST_TAG=${tag}`);
  });
}

/** Waits until `count` live processes carry the tag (or throws after `timeoutMs`). */
export async function waitForTagged(tag: string, count: number, timeoutMs = 60_000): Promise<number[]> {
  let seen = 0;
  return until(
    () => `${count} tagged processes (only ${seen} appeared)`,
    () => {
      const pids = tagged(tag);
      seen = pids.length;
      return pids.length >= count ? pids : undefined;
    },
    timeoutMs,
    { every: 50 },
  );
}

/**
 * Kills every survivor of the tag by pid and returns their pids (empty when the test was clean).
 * Gives them up to 2 s to end first: a wrapper that just exited may have signalled processes that
 * are still dying. The wait is bounded, not an assertion: what still carries the tag then is a survivor.
 */
export async function killSurvivors(tag: string): Promise<number[]> {
  await until('the tagged processes to end', () => tagged(tag).length === 0, 2000, { every: 100, onTimeout: 'return' });
  const survivors = tagged(tag);
  for (const pid of survivors) {
    const stat = readStat(pid);
    if (pid > 1 && stat && hasEnvEntry(pid, `SCIDEX_TEST_TAG=${tag}`)) process.kill(pid, 'SIGKILL');
  }
  return survivors;
}

/**
 * A tag for the processes of one test file, with an afterEach that fails the test when any of
 * them survived it (and kills them by pid).
 */
export function ownedTag(): string {
  const tag = newTag();
  afterEach(async () => {
    expect(await killSurvivors(tag)).toEqual([]);
  });
  return tag;
}
