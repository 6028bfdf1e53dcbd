/**
 * What every browser test of the daemon's pages does alike: open a browser it owns and check its
 * whole tree is gone afterwards (browser.ts), watch a page for what it must never do (dialogs,
 * uncaught errors, console errors, where CSP violations land), and keep a full-page screenshot as
 * a test artifact (test-artifacts/screenshots/<name>.png, for people and the README).
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { launchBrowser, type TestBrowser } from './browser.js';

/** Where screenshots are kept: test-artifacts/screenshots/ of the checkout (.gitignore'd). */
export const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));

/** What a page did that it must not: dialogs (alert), uncaught errors, console errors (CSP violations land there). */
export function watchPage(page: Page): { dialogs: string[]; errors: string[] } {
  const seen = { dialogs: [] as string[], errors: [] as string[] };
  page.on('dialog', (dialog) => {
    seen.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => seen.errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // A failed fetch (a daemon stopped, a 404 or 503 the page expects) is logged by chromium itself.
    if (message.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|net::ERR_/.test(message.text())) {
      seen.errors.push(`console: ${message.text()}`);
    }
  });
  return seen;
}

/** Opens a browser for one test (tagged `tag`) and always closes it, asserting its whole tree is gone. */
export async function withBrowser(chromium: string, tag: string, body: (browser: TestBrowser) => Promise<void>): Promise<void> {
  const browser = await launchBrowser(chromium, tag);
  let survivors: unknown[];
  try {
    expect(browser.tree().length).toBeGreaterThan(1); // chromium, its zygotes, renderers, ...
    await body(browser);
  } finally {
    survivors = await browser.close();
  }
  // The browser itself is among the members close() watched: its pid, by starttime, is gone too.
  expect(survivors).toEqual([]);
}

/** Saves a full-page PNG of `page` as test-artifacts/screenshots/<name>.png. */
export async function keepScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}

/** The text of each selector's first element (null for an element without text), keyed by selector. */
export async function textsOf(page: Page, selectors: readonly string[]): Promise<Record<string, string | null>> {
  const texts: Record<string, string | null> = {};
  for (const selector of selectors) texts[selector] = await page.locator(selector).first().textContent({ timeout: 60_000 });
  return texts;
}

/**
 * Answers every request of `page` for the origin `origin` with `answer` (nothing listens there);
 * any request elsewhere is refused, so a page that tried to load from another origin would fail.
 * `answer` gets the URL and returns what to fulfil with, or undefined for a refused connection.
 */
export async function serveRoutes(page: Page, origin: string, answer: (url: URL) => { status?: number; contentType: string; body: string } | undefined): Promise<void> {
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== origin) return route.abort('blockedbyclient');
    const response = answer(url);
    return response ? route.fulfill(response) : route.abort('connectionrefused');
  });
}

/** A JSON answer for serveRoutes. */
export const jsonAnswer = (body: unknown, status = 200) => ({ status, contentType: 'application/json', body: JSON.stringify(body) });

/** An HTML answer for serveRoutes. */
export const htmlAnswer = (body: string) => ({ contentType: 'text/html; charset=utf-8', body });
