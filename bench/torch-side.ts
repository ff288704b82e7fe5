/**
 * The PyTorch side of the comparison benchmarks (grodd itself never runs
 * Python): runs bench/<script> with Debian's PyTorch (/usr/bin/python3, then
 * python3 on PATH) and parses the JSON object its last stdout line holds, or
 * says why there are no PyTorch figures.
 *
 * grodd's native backend runs ATen with two runtime settings PyTorch leaves to
 * the user: freed blocks are cached (glibc's malloc returns large ones to the
 * kernel and page-faults them in again, which made PyTorch's CPU steps 1.7-5x
 * slower here than with its thresholds raised), and OpenMP threads wait
 * passively (spinning ones made steps 3-4x slower on a shared machine). So
 * each benchmark runs PyTorch twice: as installed, and with those settings
 * (GRODD_RUNTIME: the same malloc thresholds and OMP_WAIT_POLICY=PASSIVE).
 */
import { execFileSync } from 'node:child_process';

export type TorchSide<T> = { figures: T } | { reason: string };

const INTERPRETERS = ['/usr/bin/python3', 'python3'];

/** PyTorch given grodd's runtime settings: glibc keeps freed memory for reuse, OpenMP threads sleep when idle. */
export const GRODD_RUNTIME = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296', MALLOC_TOP_PAD_: '1073741824', OMP_WAIT_POLICY: 'PASSIVE' };

export function runTorchSide<T>(script: string, args: (string | number)[], env: Record<string, string> = {}): TorchSide<T> {
  for (const py of INTERPRETERS) {
    try {
      const out = execFileSync(py, [`${__dirname}/${script}`, ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 20, env: { ...process.env, ...env } });
      return { figures: JSON.parse(out.toString().trim().split('\n').at(-1)!) as T };
    } catch (e) {
      const msg = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message);
      // This interpreter is missing or lacks torch: try the next.
      if (/No module named 'torch'|ENOENT/.test(msg)) continue;
      return { reason: `PyTorch run failed: ${msg.trim().split('\n').at(-1)}` };
    }
  }
  return { reason: 'PyTorch not importable (apt-get install python3-torch for the side-by-side figures)' };
}
