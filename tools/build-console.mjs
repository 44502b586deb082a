// Bundles the web console (console/) into one directory: index.html,
// console.css, icon.svg and console.js (every module and library in one file, no
// source map, no absolute paths), deterministic for the same sources and
// lockfile. box-gateway's build.rs runs it into OUT_DIR and embeds the files.
//
//   node tools/build-console.mjs OUT_DIR
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = process.argv[2];
if (!out) {
  console.error('usage: node tools/build-console.mjs OUT_DIR');
  process.exit(2);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: [join(root, 'console/src/main.js')],
  outfile: join(out, 'console.js'),
  nodePaths: [join(root, 'tools/node_modules')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
});
copyFileSync(join(root, 'console/index.html'), join(out, 'index.html'));
copyFileSync(join(root, 'console/style.css'), join(out, 'console.css'));
copyFileSync(join(root, 'console/icon.svg'), join(out, 'icon.svg'));
