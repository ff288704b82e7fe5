/**
 * The wasm backend's memory is one 32-bit heap (4 GB at most). When it cannot
 * grow, emscripten either aborts the module ("Aborted()") or a kernel writes
 * through the null pointer malloc returned ("memory access out of bounds"),
 * both as a WebAssembly.RuntimeError; the module is unusable afterwards, so
 * the best grodd can do is say what ran out and which setting bounds it.
 */

/** Whether `e` is a fatal wasm runtime error of the kind running out of heap gives. */
export function isWasmHeapFailure(e: unknown): boolean {
  return e instanceof Error && e.name === 'RuntimeError' && /^Aborted\(|memory access out of bounds/.test(e.message);
}

/**
 * A larger number of micro-batches that divides both batch sizes (the smallest
 * one at least twice `current`), or null when there is none.
 */
export function largerMicroBatches(nIn: number, nOut: number, current: number): number | null {
  const limit = nOut > 0 ? Math.min(nIn, nOut) : nIn;
  for (let c = 2 * current; c <= limit; c++) {
    if (nIn % c === 0 && nOut % c === 0) return c;
  }
  return null;
}
