#!/usr/bin/env node
// Builds grodd's native addon (native/grodd_native.cc -> native/build/grodd_native.node)
// with the system C++ compiler, against Node-API headers found without a download
// and against libtorch, looked for in this order:
//   1. $LIBTORCH (an unpacked official libtorch zip, CPU or CUDA),
//   2. the Python `torch` package (its bundled headers and libraries; its C++ ABI flag),
//   3. Debian/Ubuntu's libtorch-dev (/usr/include/ATen, libtorch_cpu.so).
// Run by `npm install` (the root package's `install` script) and `npm run build:native`.
// It never fails the install: when something is missing it prints one line saying what and
// how to get it, and exits 0; grodd then runs on wasm. `--force` rebuilds even when the
// sources and libtorch are unchanged; GRODD_SKIP_NATIVE=1 skips the build.
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const HERE = __dirname;
const SRC = path.join(HERE, 'grodd_native.cc');
const OUT_DIR = path.join(HERE, 'build');
const OUT = path.join(OUT_DIR, 'grodd_native.node');
const INFO = path.join(OUT_DIR, 'build-info.json');
const LOG = path.join(OUT_DIR, 'build.log');
const HINT =
  'install libtorch (Debian/Ubuntu: apt-get install libtorch-dev; or pip install torch; or set LIBTORCH to an unpacked libtorch zip), then npm run build:native';
const force = process.argv.includes('--force');

function say(msg) {
  process.stdout.write(`grodd: ${msg}\n`);
}

function exists(p) {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Node-API headers: the running node's include/node, else the node-api-headers package. */
function napiHeaders() {
  const own = path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node');
  if (exists(path.join(own, 'node_api.h'))) return own;
  try {
    const pkg = path.dirname(require.resolve('node-api-headers/package.json'));
    const dir = path.join(pkg, 'include');
    if (exists(path.join(dir, 'node_api.h'))) return dir;
  } catch {
    // not installed
  }
  return null;
}

function libDirOf(root) {
  for (const d of ['lib', 'lib64']) if (exists(path.join(root, d, 'libtorch_cpu.so'))) return path.join(root, d);
  return null;
}

/** A libtorch: { source, include: [dirs], lib, abi (0|1|null), cuda }. */
function fromRoot(source, root, abi) {
  const lib = libDirOf(root);
  const inc = path.join(root, 'include');
  if (!lib || !exists(path.join(inc, 'ATen', 'ATen.h'))) return null;
  return { source, include: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')], lib, abi, cuda: exists(path.join(lib, 'libtorch_cuda.so')) };
}

function fromEnv() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  const t = fromRoot(`LIBTORCH=${root}`, root, null);
  if (!t) say(`LIBTORCH=${root} has no include/ATen/ATen.h and lib/libtorch_cpu.so; looking elsewhere`);
  return t;
}

function fromPython() {
  const code =
    'import json, os, torch; print(json.dumps({"dir": os.path.dirname(torch.__file__), "abi": int(torch._C._GLIBCXX_USE_CXX11_ABI), "version": torch.__version__}))';
  for (const py of [process.env.PYTHON, 'python3', 'python'].filter(Boolean)) {
    const r = spawnSync(py, ['-c', code], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0 || !r.stdout) continue;
    try {
      const info = JSON.parse(r.stdout.trim().split('\n').pop());
      const t = fromRoot(`python torch ${info.version} (${py})`, info.dir, info.abi);
      if (t) return t;
    } catch {
      // not JSON: not this interpreter
    }
  }
  return null;
}

function fromSystem() {
  if (!exists('/usr/include/ATen/ATen.h')) return null;
  const arch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
  for (const lib of [arch && `/usr/lib/${arch}`, '/usr/lib64', '/usr/lib'].filter(Boolean)) {
    if (exists(path.join(lib, 'libtorch_cpu.so'))) {
      return { source: 'system libtorch-dev', include: ['/usr/include', '/usr/include/torch/csrc/api/include'], lib, abi: null, cuda: exists(path.join(lib, 'libtorch_cuda.so')) };
    }
  }
  return null;
}

function compilerCmd() {
  const cxx = process.env.CXX || 'c++';
  const r = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? cxx : null;
}

function compile(cxx, torch, napi, abi) {
  const tmp = path.join(OUT_DIR, `grodd_native.${process.pid}.tmp.node`);
  const args = [
    '-shared', '-fPIC', '-O3', '-std=c++17', '-DNODE_GYP_MODULE_NAME=grodd_native',
    ...(abi == null ? [] : [`-D_GLIBCXX_USE_CXX11_ABI=${abi}`]),
    `-I${napi}`, ...torch.include.map((d) => `-I${d}`),
    SRC, '-o', tmp,
    `-L${torch.lib}`, `-Wl,-rpath,${torch.lib}`,
    // --no-as-needed: keep libtorch_cuda linked (it registers CUDA with ATen at load) though no symbol of it is used.
    ...(torch.cuda ? ['-Wl,--no-as-needed', '-ltorch_cuda', '-Wl,--as-needed'] : []),
    '-ltorch_cpu', '-lc10',
  ];
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  fs.appendFileSync(LOG, `$ ${cxx} ${args.join(' ')}\n${r.stdout}${r.stderr}\n`);
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    const first = `${r.stderr}`.split('\n').find((l) => /error/.test(l)) ?? `exit ${r.status}`;
    return { ok: false, why: first.trim() };
  }
  // Load it in a child process: a C++ ABI mismatch shows up as an undefined symbol here.
  const load = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(tmp)}).info()`], { encoding: 'utf8' });
  if (load.status !== 0) {
    fs.rmSync(tmp, { force: true });
    return { ok: false, why: `${load.stderr}`.split('\n').find((l) => /Error/.test(l))?.trim() ?? 'the built addon does not load' };
  }
  fs.renameSync(tmp, OUT);
  return { ok: true };
}

function main() {
  if (process.env.GRODD_SKIP_NATIVE === '1') return say('native backend build skipped (GRODD_SKIP_NATIVE=1); grodd runs on wasm');
  const torch = fromEnv() ?? fromPython() ?? fromSystem();
  if (!torch) return say(`native backend not built: no libtorch found; grodd runs on wasm. For PyTorch-speed training, ${HINT}`);
  const napi = napiHeaders();
  if (!napi) return say('native backend not built: no Node-API headers (node_api.h) found; install the npm package node-api-headers, then npm run build:native');
  const cxx = compilerCmd();
  if (!cxx) return say('native backend not built: no C++ compiler (set CXX, or apt-get install g++), then npm run build:native');
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const key = crypto.createHash('sha256').update(fs.readFileSync(SRC)).update(JSON.stringify({ torch, napi, cxx, node: process.versions.modules })).digest('hex');
  if (!force && exists(OUT) && exists(INFO) && JSON.parse(fs.readFileSync(INFO, 'utf8')).key === key) {
    return say(`native backend up to date (${torch.source})`);
  }
  fs.writeFileSync(LOG, '');
  say(`building the native backend against ${torch.source} (about a minute)...`);
  // An unknown ABI flag (a LIBTORCH zip comes in both): the compiler's default first, then the other.
  const abis = torch.abi == null ? [null, 0] : [torch.abi];
  let result;
  for (const abi of abis) {
    result = compile(cxx, torch, napi, abi);
    if (result.ok) {
      fs.writeFileSync(INFO, JSON.stringify({ key, source: torch.source, lib: torch.lib, abi, cuda: torch.cuda }, null, 2));
      return say(`native backend built (${torch.source}${torch.cuda ? ', with CUDA' : ''}): ${path.relative(process.cwd(), OUT)}`);
    }
  }
  say(`native backend not built: ${result.why} (full log: ${path.relative(process.cwd(), LOG)}); grodd runs on wasm`);
}

try {
  main();
} catch (e) {
  say(`native backend not built: ${e && e.message ? e.message : e}; grodd runs on wasm`);
}
