/**
 * A real headless browser for the tests: Debian's chromium (`.ci/run` installs it), driven by
 * playwright-core, which never downloads a browser of its own.
 *
 * The browser is ours like any process a test starts: it is launched through a BrowserServer so
 * that we hold its pid, it carries the test's tag (SCIDEX_TEST_TAG) in its environment, and
 * closing it is checked, not trusted. close() records the whole process tree (pid and starttime,
 * walked through /proc/PID/task/TID/children) before closing, then waits until every one of them
 * is gone; any survivor is killed by pid (after its starttime is re-checked; never pid <= 1) and
 * returned, so the test can assert there was none.
 *
 * The tree alone misses chromium's crash handlers (chrome_crashpad_handler): they daemonize, so
 * their parent is init, not the browser. Each browser therefore also gets a cookie of its own
 * (SCIDEX_TEST_BROWSER=<uuid>) in its environment, and what carries it counts as the browser's.
 */
import { randomUUID } from 'node:crypto';
import { delimiter } from 'node:path';
import which from 'which';
import { chromium, type Browser, type BrowserServer } from 'playwright-core';
import { readChildren } from '../../src/proc/children.js';
import { hasEnvEntry } from '../../src/proc/environ.js';
import { listPids } from '../../src/proc/list.js';
import { isDead, readStat } from '../../src/proc/stat.js';
import { until } from './until.js';


/** The chromium executable: `chromium` on PATH, else /usr/bin/chromium; undefined when not installed. */
export function chromiumBinary(): string | undefined {
  return which.sync('chromium', { nothrow: true, path: [process.env.PATH ?? '', '/usr/bin'].join(delimiter) }) ?? undefined;
}

/** One process of the browser's tree, by identity. */
export interface TreeMember {
  pid: number;
  starttime: number;
  comm: string;
}

/** A launched browser. */
export interface TestBrowser {
  readonly browser: Browser;
  /** The browser's own pid (the launcher script execs chromium, so this is chromium's). */
  readonly pid: number;
  /** The browser's processes right now: the browser, every live descendant, and its crash handlers. */
  tree(): TreeMember[];
  /**
   * Closes the browser and checks that its whole tree is gone. Returns the members that
   * survived (killed by pid afterwards); empty when the close was clean. Idempotent.
   */
  close(): Promise<TreeMember[]>;
}

function alive(member: TreeMember): boolean {
  const stat = readStat(member.pid);
  return stat !== undefined && stat.starttime === member.starttime && !isDead(stat);
}

/** The live tree under `pid` (inclusive), breadth first, plus the live processes carrying `cookie`. */
function treeOf(pid: number, cookie: string): TreeMember[] {
  const members: TreeMember[] = [];
  const seen = new Set<number>([process.pid]);
  const queue = [pid, ...listPids().filter((other) => other > 1 && other !== process.pid && hasEnvEntry(other, cookie))];
  while (queue.length > 0) {
    const next = queue.shift()!;
    if (next <= 1 || seen.has(next)) continue;
    seen.add(next);
    const stat = readStat(next);
    if (stat === undefined || isDead(stat)) continue;
    members.push({ pid: next, starttime: stat.starttime, comm: stat.comm });
    queue.push(...readChildren(next));
  }
  return members;
}

/**
 * Launches headless chromium (with --no-sandbox: as root it refuses to start without it) on the
 * loopback interface and connects to it.
 * @param tag the test's tag, put in the browser's environment so that survivor checks see it
 */
export async function launchBrowser(executablePath: string, tag?: string): Promise<TestBrowser> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  if (tag !== undefined) env.SCIDEX_TEST_TAG = tag;
  const cookie = `SCIDEX_TEST_BROWSER=${randomUUID()}`;
  env.SCIDEX_TEST_BROWSER = cookie.slice('SCIDEX_TEST_BROWSER='.length);
  const server: BrowserServer = await chromium.launchServer({
    executablePath,
    headless: true,
    host: '127.0.0.1',
    args: ['--no-sandbox', '--no-first-run', '--no-default-browser-check', '--disable-background-networking'],
    env,
    // A hang bound, not Playwright's 30 s: chromium's start is slow on a host loaded by the suite itself.
    timeout: 60_000,
  });
  const pid = server.process().pid;
  let browser: Browser;
  try {
    if (pid === undefined || pid <= 1) throw new Error('chromium started without a pid');
    browser = await chromium.connect(server.wsEndpoint());
  } catch (error) {
    await server.kill();
    throw error;
  }
  let closed: Promise<TreeMember[]> | undefined;
  return {
    browser,
    pid,
    tree: () => treeOf(pid, cookie),
    close: () =>
      (closed ??= (async () => {
        const members = treeOf(pid, cookie);
        await browser.close().catch(() => undefined);
        await server.close().catch(() => undefined);
        // Bounded: what is still alive after 10 s is a survivor, killed and returned.
        await until("chromium's processes to end", () => !members.some(alive), 10_000, { every: 50, onTimeout: 'return' });
        const survivors = members.filter(alive);
        for (const member of survivors) if (member.pid > 1 && alive(member)) process.kill(member.pid, 'SIGKILL');
        return survivors;
      })()),
  };
}
