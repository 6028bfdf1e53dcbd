// Part of `npm run build`: bundles the daemon's pages (src/watchdog/http/page/: one folder per page,
// live, run and fleet, each with its main.ts and what it imports, its page.css and what that
// imports, and its body.html, which goes into the shared shell.html under the page's title) into
// dist/page/pages.json, which src/watchdog/http/page.ts imports and esbuild inlines into the bins,
// so the built daemon reads no file at run time. For each page the JSON holds the HTML shell (its
// {{csp}}, {{style}} and {{script}} slots left for page.ts), the minified script (an IIFE for browsers: the chart
// library, uPlot, is bundled into it) and style (uPlot's own style included), and the sha256
// (base64) of each exactly as it will stand inline: the hashes the page's Content-Security-Policy
// allows. This script only bundles; `tsc -p src/watchdog/http/page` type-checks the browser code
// in the same build.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url);
const source = new URL('src/watchdog/http/page/', root);
const out = new URL('dist/page/', root);

/** The pages, by the name page.ts serves them under (each is the folder of its sources), and their titles until their script sets one. */
const PAGES = { live: 'scidex-run watchdog', run: 'scidex-run \u00b7 run', fleet: 'scidex-run \u00b7 fleet' };

const SHELL = readFileSync(new URL('shell.html', source), 'utf8');

/** The page's shell: shell.html with its title and body.html in. One pass: what is filled in is not searched for slots again. */
function shell(name) {
  const parts = { title: PAGES[name], body: readFileSync(new URL(`${name}/body.html`, source), 'utf8') };
  return SHELL.replace(/\{\{(title|body)\}\}/g, (_, slot) => parts[slot]);
}

/** The one output of an esbuild bundle, as text. */
async function bundle(entry, options) {
  const result = await build({ entryPoints: [fileURLToPath(new URL(entry, source))], bundle: true, minify: true, write: false, logLevel: 'warning', ...options });
  return result.outputFiles[0].text;
}

/**
 * Inline text must not end its element early: `</script` or `</style` (any case) would close it,
 * and `<!--` in a script puts the HTML parser in a state where the closing tag is not seen.
 */
function assertInlineable(text, tag, name) {
  const closing = new RegExp(`</${tag}|<!--`, 'i');
  if (closing.test(text)) throw new Error(`the ${name} page's ${tag} holds ${closing.exec(text)[0]}: it cannot stand inline`);
  return text;
}

const sha256 = (text) => createHash('sha256').update(text, 'utf8').digest('base64');

const pages = {};
for (const name of Object.keys(PAGES)) {
  const script = assertInlineable(await bundle(`${name}/main.ts`, { platform: 'browser', format: 'iife', target: 'es2022' }), 'script', name);
  const style = assertInlineable(await bundle(`${name}/page.css`, {}), 'style', name);
  pages[name] = {
    shell: shell(name),
    script,
    style,
    script_sha256: sha256(script),
    style_sha256: sha256(style),
  };
}
mkdirSync(out, { recursive: true });
writeFileSync(new URL('pages.json', out), `${JSON.stringify(pages, null, 2)}\n`);
