#!/usr/bin/env node
// Runs the compiled CLI in dist/ (built by `npm run build`, which `npm install` runs as `prepare`),
// unless a source file is newer than the build (a development checkout being edited) or
// GRODD_FROM_SOURCE=1 is set (the tests): then the TypeScript sources run through tsx.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const built = path.join(root, 'dist', 'cli', 'main.js');

/** The newest modification time (ms) of the files under `dir`. */
function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

function buildIsCurrent() {
  let builtAt;
  try {
    builtAt = fs.statSync(built).mtimeMs;
  } catch {
    return false;
  }
  const src = path.join(root, 'src');
  return !fs.existsSync(src) || newest(src) <= builtAt;
}

if (process.env.GRODD_FROM_SOURCE !== '1' && buildIsCurrent()) {
  require(built);
} else {
  try {
    require.resolve('tsx/cjs');
  } catch {
    process.stderr.write('grodd: no current build in dist/ and no tsx to run the sources: run `npm install` (or `npm run build`)\n');
    process.exit(1);
  }
  require('tsx/cjs');
  require('../src/cli/main.ts');
}
