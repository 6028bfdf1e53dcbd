import { describe, expect, it } from 'vitest';
import { REPEAT_FAILURE_MS, repeatLimited } from '../../src/watchdog/repeat-limit.js';

describe('repeatLimited', () => {
  it('logs a new line at once, the same line again only once a minute, and again at once after clear()', () => {
    const lines: string[] = [];
    const log = repeatLimited((line) => lines.push(line));
    log('down', 0);
    log('down', 1000);
    log('refused', 2000);
    log('refused', 2000 + REPEAT_FAILURE_MS - 1);
    log('refused', 2000 + REPEAT_FAILURE_MS);
    log.clear();
    log('refused', 2000 + REPEAT_FAILURE_MS + 1);
    expect(lines).toEqual(['down', 'refused', 'refused', 'refused']);
  });
});
