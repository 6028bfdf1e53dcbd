/**
 * Every test owns the processes it starts: each gets a tag (SCIDEX_TEST_TAG=<uuid>) in the
 * environment of the wrapper, which every process of the run inherits. After the test, anything
 * still carrying the tag is a survivor: it is killed by pid (after re-checking the tag; never by
 * name, never pid <= 1) and reported, so the test fails.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasEnvEntry } from '../../src/proc/environ.js';
import { listPids } from '../../src/proc/list.js';
import { isDead, readStat } from '../../src/proc/stat.js';

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
export async function waitForTagged(tag: string, count: number, timeoutMs = 20_000): Promise<number[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const pids = tagged(tag);
    if (pids.length >= count) return pids;
    if (Date.now() > end) throw new Error(`only ${pids.length} of ${count} tagged processes appeared`);
    await sleep(50);
  }
}

/**
 * Kills every survivor of the tag by pid and returns their pids (empty when the test was clean).
 * Waits a moment first: a wrapper that just exited may have signalled processes that are still dying.
 */
export async function killSurvivors(tag: string): Promise<number[]> {
  let survivors = tagged(tag);
  for (let attempt = 0; survivors.length > 0 && attempt < 20; attempt++) {
    await sleep(100);
    survivors = tagged(tag);
  }
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
