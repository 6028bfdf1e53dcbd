/**
 * The layers of docs/design.md §1, checked on the source: every import between two folders of src/
 * points down (or at config/, which every layer may use). One that points up or sideways fails here
 * with its file and target, before it grows into a cycle.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

/** Higher imports lower; equal ranks are peers, which may not import each other. */
const RANK: Record<string, number> = { cli: 6, supervise: 5, watchdog: 5, report: 4, query: 4, record: 3, terminate: 2, track: 1, proc: 0, sys: 0, config: -1 };

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.ts$/.test(entry.name) ? [path] : [];
  });
}

/** The top folder of src/ that `path` is in. */
const layerOf = (path: string): string => relative(SRC, path).split('/')[0];

describe('the layers of src/', () => {
  it('every import between folders points down, or at config/', () => {
    const wrong: string[] = [];
    for (const file of sources(SRC)) {
      const from = layerOf(file);
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
        const to = layerOf(resolve(dirname(file), target));
        // What the build generates (dist/page/pages.json) is no layer.
        if (to === '..' || to === from || to === 'config' || (RANK[from] ?? -99) > (RANK[to] ?? 99)) continue;
        wrong.push(`${relative(SRC, file)} imports ${target}`);
      }
    }
    expect(Object.keys(RANK).sort()).toEqual(readdirSync(SRC).sort());
    expect(wrong).toEqual([]);
  });
});
