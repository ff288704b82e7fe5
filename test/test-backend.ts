/**
 * The backend the suite trains, evaluates and builds models on: GRODD_BACKEND
 * (native, wasm or cpu), wasm by default. CLI tests pass it on through the
 * environment; `.ci/run` runs the suite once on wasm and once on native.
 */
import { loadAddon } from '../src/engine/native/addon';

export const TEST_BACKEND = (process.env.GRODD_BACKEND || 'wasm') as 'native' | 'wasm' | 'cpu';

/** Whether the native addon loads here (its tests skip with the reason otherwise). */
export function nativeSkipReason(): string | false {
  const a = loadAddon();
  return 'why' in a ? `native backend unavailable: ${a.why}` : false;
}
