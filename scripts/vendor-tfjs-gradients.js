#!/usr/bin/env node
/**
 * Part of `npm run build`: a CommonJS copy of tfjs-core's gradient registrations for dist/.
 *
 * tfjs-core's CommonJS bundle registers no gradients; its `dist/register_all_gradients.js`
 * (what the @tensorflow/tfjs umbrella package loads) is an ES module whose imports have no
 * file extensions, which plain Node cannot load (tsx can, which is why the sources run).
 * This transpiles that file and every tfjs-core module it reaches to CommonJS under
 * dist/vendor/tfjs-core/, keeping the layout so that the relative imports resolve; package
 * imports stay as they are. The copy shares the installed tfjs-core's engine and registries
 * (tfjs-core keeps them in globals), as the sources' tsx-loaded modules do.
 */
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const coreDist = path.dirname(require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js'));
const out = path.join(__dirname, '..', 'dist', 'vendor', 'tfjs-core');
const SPECIFIER = /\b(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"](\.[^'"]*)['"]/g;

const seen = new Set();
const queue = ['register_all_gradients.js'];
while (queue.length) {
  const rel = queue.pop();
  if (seen.has(rel)) continue;
  seen.add(rel);
  const source = fs.readFileSync(path.join(coreDist, rel), 'utf8');
  for (const [, spec] of source.matchAll(SPECIFIER)) {
    const target = path.join(path.dirname(rel), spec);
    queue.push(fs.existsSync(path.join(coreDist, `${target}.js`)) ? `${target}.js` : path.join(target, 'index.js'));
  }
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020 }, fileName: rel });
  fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
  fs.writeFileSync(path.join(out, rel), outputText);
}
process.stdout.write(`vendored ${seen.size} tfjs-core modules (gradient registrations) into ${path.relative(process.cwd(), out)}/\n`);
