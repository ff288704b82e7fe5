import * as YAML from 'yaml';
import { UserError } from '../util/errors';
import { describe } from './reader';

/**
 * Dotted-key overrides of a config document: `train.lr=0.1` or `data.ood[1].limit=500` on the command
 * line and the keys of a sweep's grid and trials are one thing, applied by this code. A list item is
 * indexed as `[1]` or `.1`. A value replaces the whole subtree at its key (mappings are not merged).
 */

/** Overrides in order: [dotted key, value]; `train.grad_reg.weight` -> 1. */
export type Overrides = [key: string, value: unknown][];

/** The parts of a dotted key: `data.ood[1].limit` -> data, ood, 1, limit. */
export function keyParts(key: string): string[] {
  return key.replace(/\[(\d+)\]/g, '.$1').split('.');
}

/** A deep copy of a plain YAML value. */
function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/**
 * Sets `key` to `value` in a copy of `raw`, creating missing mappings on the way. `fail` gets a message
 * when a part of the path is a value that is neither a mapping nor a list, or a list index is wrong.
 */
export function applyOverride(raw: Record<string, unknown>, key: string, value: unknown, fail: (m: string) => never = (m) => { throw new UserError(m); }): Record<string, unknown> {
  const out = clone(raw);
  const parts = keyParts(key);
  let cur: Record<string, unknown> | unknown[] = out;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    const last = i === parts.length - 1;
    const here = parts.slice(0, i).join('.') || '(top level)';
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(p)) fail(`${here} is a list; index it with a number (e.g. ${[...parts.slice(0, i), '0', ...parts.slice(i + 1)].join('.')})`);
      const idx = Number(p);
      if (idx >= cur.length) fail(`${here} has ${cur.length} item(s); there is no item ${idx}`);
      if (last) cur[idx] = clone(value);
      else {
        if (cur[idx] === null || typeof cur[idx] !== 'object') cur[idx] = {};
        cur = cur[idx] as Record<string, unknown> | unknown[];
      }
    } else {
      if (last) cur[p] = clone(value);
      else {
        const next = cur[p];
        if (next === undefined || next === null) cur[p] = {};
        else if (typeof next !== 'object') fail(`${[...parts.slice(0, i + 1)].join('.')} is ${describe(next)}, not a mapping, so it has no key ${JSON.stringify(parts[i + 1])}`);
        cur = cur[p] as Record<string, unknown> | unknown[];
      }
    }
  }
  return out;
}

const KEY = /^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\.\d+|\[\d+\])*$/;

/**
 * Parses command-line overrides `KEY=VALUE`: the key dotted, the value YAML (`0.1` is a number, `exact`
 * a string, `[8, 16]` a list, `{kind: uniform}` a mapping; quote to force a string: `name='"7"'`).
 */
export function parseOverrideArgs(args: readonly string[]): Overrides {
  return args.map((arg) => {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? '' : arg.slice(0, eq);
    if (!KEY.test(key)) {
      throw new UserError(`override ${JSON.stringify(arg)}: expected KEY=VALUE with a dotted config key, e.g. train.lr=0.1 or data.ood[1].limit=500`);
    }
    const text = arg.slice(eq + 1);
    let value: unknown;
    try {
      value = YAML.parse(text);
    } catch (e) {
      throw new UserError(`override ${arg}: the value is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (value === null || value === undefined) throw new UserError(`override ${arg}: the value is missing; write ${key}=VALUE`);
    return [key, value];
  });
}

/** One override as the command line writes it; the value in YAML flow style, so that it parses back. */
export function formatOverride([key, value]: Overrides[number]): string {
  return `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
}

/** The comment lines of a resolved config.yaml that say where it came from: `# resolved config of FILE`, then each override. */
export function provenanceComment(file: string, overrides: Overrides): string {
  const head = `# resolved config of ${file}${overrides.length ? ' with command-line overrides' : ''} (every default filled in)\n`;
  return head + overrides.map((o) => `#   ${formatOverride(o)}\n`).join('');
}

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The message `check` (parseConfig) gives for `doc`, without its file label; undefined when `doc` passes. */
export function problemOf(check: (raw: unknown, label: string) => unknown, doc: unknown): string | undefined {
  try {
    check(doc, '\u0000');
    return undefined;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return e.message.replace(/^\u0000: /, '');
  }
}

/**
 * Applies command-line overrides to the config document `raw` of `file` and checks the result with
 * `check` (parseConfig), so that an unknown key or a wrong value is the usual one-line error. A problem
 * that the file has without overrides is reported as the file's; one that a single override causes, with
 * that override (`x.yaml: override train.lr=abc: train.lr: expected a number > 0, got "abc"`); any other
 * with the whole list.
 */
export function applyOverrides(raw: unknown, file: string, overrides: Overrides, check: (raw: unknown, label: string) => unknown): unknown {
  if (!overrides.length || !isMapping(raw)) return raw;
  const at = (o: Overrides[number]): string => `${file}: override ${formatOverride(o)}`;
  let merged = raw;
  for (const o of overrides) merged = applyOverride(merged, o[0], o[1], (m) => { throw new UserError(`${at(o)}: ${m}`); });
  const problem = (doc: unknown): string | undefined => problemOf(check, doc);
  const p = problem(merged);
  if (p === undefined) return merged;
  if (problem(raw) === p) throw new UserError(`${file}: ${p}`);
  for (const o of overrides) if (problem(applyOverride(raw, o[0], o[1])) === p) throw new UserError(`${at(o)}: ${p}`);
  throw new UserError(`${file} with overrides ${overrides.map(formatOverride).join(' ')}: ${p}`);
}
