// Part of `npm run build`: bundles the live page's sources (src/watchdog/http/page/: main.ts and
// what it imports, page.css, page.html) into dist/page/live-page.json, which
// src/watchdog/http/page.ts imports and esbuild inlines into the bins, so the built daemon reads no
// file at run time. The JSON holds the HTML shell, the minified script (an IIFE for browsers) and
// style, and the sha256 (base64) of each exactly as it will stand inline: the hashes the page's
// Content-Security-Policy allows. This script only bundles; `tsc -p src/watchdog/http/page`
// type-checks the browser code in the same build.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url);
const source = new URL('src/watchdog/http/page/', root);
const out = new URL('dist/page/', root);

/** The one output of an esbuild bundle, as text. */
async function bundle(entry, options) {
  const result = await build({ entryPoints: [fileURLToPath(new URL(entry, source))], bundle: true, minify: true, write: false, logLevel: 'warning', ...options });
  return result.outputFiles[0].text;
}

/**
 * Inline text must not end its element early: `</script` or `</style` (any case) would close it,
 * and `<!--` in a script puts the HTML parser in a state where the closing tag is not seen.
 */
function assertInlineable(text, tag) {
  const closing = new RegExp(`</${tag}|<!--`, 'i');
  if (closing.test(text)) throw new Error(`the live page's ${tag} holds ${closing.exec(text)[0]}: it cannot stand inline`);
  return text;
}

const sha256 = (text) => createHash('sha256').update(text, 'utf8').digest('base64');

const script = assertInlineable(await bundle('main.ts', { platform: 'browser', format: 'iife', target: 'es2022' }), 'script');
const style = assertInlineable(await bundle('page.css', {}), 'style');
mkdirSync(out, { recursive: true });
const page = {
  shell: readFileSync(new URL('page.html', source), 'utf8'),
  script,
  style,
  script_sha256: sha256(script),
  style_sha256: sha256(style),
};
writeFileSync(new URL('live-page.json', out), `${JSON.stringify(page, null, 2)}\n`);
