import * as fs from 'node:fs';
import * as YAML from 'yaml';
import { UserError } from '../util/errors';

/** Whether text read as UTF-8 is binary data (a NUL, or many undecodable bytes or control characters). */
function looksBinary(text: string): boolean {
  if (text.includes('\u0000')) return true;
  const odd = text.match(/[\ufffd\u0001-\u0008\u000e-\u001f]/g)?.length ?? 0;
  return odd > 0 && odd >= text.length / 20;
}

/**
 * Describes a raw YAML value for an error message, e.g. `"one"` or `a list`: numbers YAML reads
 * beyond float64 (`1e309`, `.inf`) or as `.nan` are named as such (JSON would print null), long
 * strings are cut short and binary ones never echoed.
 */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN (.nan)';
  if (typeof v === 'number' && !Number.isFinite(v)) return `${v} (a number beyond the float64 range, or .inf)`;
  if (typeof v === 'string' && looksBinary(v)) return `binary data (${v.length} characters)`;
  if (typeof v === 'string' && v.length > 80) return `${JSON.stringify(v.slice(0, 60))}... (${v.length} characters)`;
  return JSON.stringify(v);
}

/** Reads and parses a YAML file; `what` names it in errors ("config file", "sweep file"). */
export function readYamlFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what} not found: ${file}`);
    if (code === 'EISDIR') throw new UserError(`${file}: is a directory, expected a ${what} (YAML)`);
    throw new UserError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
  return parseYaml(text, file);
}

/** Parses the YAML text of `file` (a config or sweep); binary or malformed text is one line naming the file. */
export function parseYaml(text: string, file: string): unknown {
  if (looksBinary(text)) throw new UserError(`${file}: not a YAML text file (it holds binary data); give the path of a .yaml config`);
  try {
    return YAML.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

function nearest(key: string, known: string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0];
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = d[j];
        d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    return d[b.length];
  };
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const dk = dist(key, k);
    if (dk < bestD) [best, bestD] = [k, dk];
  }
  return best;
}

export interface NumberRule {
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  max?: number;
  integer?: boolean;
}

/**
 * Reads one mapping of a YAML config, checking types and ranges, and remembers
 * which keys were read so that `done()` can reject unknown (misspelt) keys.
 * Every error names the file and the dotted path of the offending field.
 */
export class ConfigReader {
  private readonly seen = new Set<string>();

  constructor(
    readonly raw: Record<string, unknown>,
    readonly path: string,
    readonly file: string,
  ) {}

  static root(raw: unknown, file: string): ConfigReader {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new UserError(`${file}: expected a YAML mapping at the top level, got ${describe(raw)}`);
    }
    return new ConfigReader(raw as Record<string, unknown>, '', file);
  }

  /** The dotted path of `key` under this mapping. */
  at(key: string | number): string {
    if (typeof key === 'number') return `${this.path}[${key}]`;
    return this.path ? `${this.path}.${key}` : key;
  }

  fail(key: string | number, message: string): never {
    throw new UserError(`${this.file}: ${this.at(key)}: ${message}`);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  private get(key: string): unknown {
    this.seen.add(key);
    return this.raw[key];
  }

  /** The raw value of `key` (marked as read), for a field of a type no other reader covers. */
  value(key: string): unknown {
    return this.get(key);
  }

  private required(key: string): never {
    this.fail(key, 'is required');
  }

  number(key: string, dflt?: number, rule: NumberRule = {}): number {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.required(key);
      return dflt;
    }
    return checkNumber(v, rule, (m) => this.fail(key, m));
  }

  optionalNumber(key: string, rule: NumberRule = {}): number | undefined {
    return this.has(key) ? this.number(key, undefined, rule) : (this.get(key), undefined);
  }

  string(key: string, dflt?: string): string {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.required(key);
      return dflt;
    }
    if (typeof v !== 'string') this.fail(key, `expected a string, got ${describe(v)}`);
    return v;
  }

  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : (this.get(key), undefined);
  }

  oneOf<T extends string>(key: string, choices: readonly T[], dflt?: T): T {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.required(key);
      return dflt;
    }
    if (typeof v !== 'string' || !choices.includes(v as T)) {
      this.fail(key, `expected one of ${choices.join(' | ')}, got ${describe(v)}`);
    }
    return v as T;
  }

  optionalOneOf<T extends string>(key: string, choices: readonly T[]): T | undefined {
    return this.has(key) ? this.oneOf(key, choices) : (this.get(key), undefined);
  }

  boolean(key: string, dflt?: boolean): boolean {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.required(key);
      return dflt;
    }
    if (typeof v !== 'boolean') this.fail(key, `expected true or false, got ${describe(v)}`);
    return v;
  }

  numberList(key: string, dflt?: number[], rule: NumberRule = {}): number[] {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.required(key);
      return dflt;
    }
    if (!Array.isArray(v)) this.fail(key, `expected a list of numbers, got ${describe(v)}`);
    return v.map((x, i) => checkNumber(x, rule, (m) => this.fail(key, `item ${i}: ${m}`)));
  }

  /** A list of numbers, each written as a number or as a fraction "a/b" (e.g. 2/255 for a pixel budget). */
  fractionList(key: string, dflt: number[], rule: NumberRule = {}): number[] {
    const v = this.get(key);
    if (v === undefined || v === null) return dflt;
    if (!Array.isArray(v)) this.fail(key, `expected a list of numbers or fractions such as 2/255, got ${describe(v)}`);
    return v.map((x, i) => {
      const m = typeof x === 'string' ? /^\s*([0-9.eE+-]+)\s*\/\s*([0-9.eE+-]+)\s*$/.exec(x) : null;
      const value = m ? Number(m[1]) / Number(m[2]) : x;
      return checkNumber(value, rule, (msg) => this.fail(key, `item ${i}: ${msg.replace(/, got .*$/, '')}, got ${describe(x)}`));
    });
  }

  optionalNumberList(key: string, rule: NumberRule = {}): number[] | undefined {
    return this.has(key) ? this.numberList(key, undefined, rule) : (this.get(key), undefined);
  }

  /** A non-empty list of strings, each one of `choices`. */
  oneOfList<T extends string>(key: string, choices: readonly T[], dflt?: T[]): T[] {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.required(key);
      return dflt;
    }
    if (!Array.isArray(v) || v.length === 0) this.fail(key, `expected a non-empty list of ${choices.join(' | ')}, got ${describe(v)}`);
    v.forEach((x, i) => {
      if (typeof x !== 'string' || !choices.includes(x as T)) this.fail(key, `item ${i}: expected one of ${choices.join(' | ')}, got ${describe(x)}`);
    });
    return v as T[];
  }

  /** Whether `key` holds a mapping (for fields that take a number or a mapping). */
  isMapping(key: string): boolean {
    const v = this.raw[key];
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  /** A nested mapping; an absent one reads as empty so that its defaults apply. */
  object(key: string, required = false): ConfigReader {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (required) this.required(key);
      return new ConfigReader({}, this.at(key), this.file);
    }
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, `expected a mapping, got ${describe(v)}`);
    return new ConfigReader(v as Record<string, unknown>, this.at(key), this.file);
  }

  /** A list of mappings. */
  objectList(key: string, required = false): ConfigReader[] {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (required) this.required(key);
      return [];
    }
    if (!Array.isArray(v)) this.fail(key, `expected a list, got ${describe(v)}`);
    return v.map((item, i) => {
      const p = `${this.at(key)}[${i}]`;
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        throw new UserError(`${this.file}: ${p}: expected a mapping, got ${describe(item)}`);
      }
      return new ConfigReader(item as Record<string, unknown>, p, this.file);
    });
  }

  /** Rejects keys that no reader asked for. Call after reading every field. */
  done(): void {
    for (const key of Object.keys(this.raw)) {
      if (this.seen.has(key)) continue;
      const hint = nearest(key, [...this.seen]);
      this.fail(key, `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; known keys here: ${[...this.seen].sort().join(', ')}`);
    }
  }
}

function checkNumber(v: unknown, rule: NumberRule, fail: (m: string) => never): number {
  const bounds: string[] = [];
  if (rule.above !== undefined) bounds.push(`> ${rule.above}`);
  if (rule.min !== undefined) bounds.push(`>= ${rule.min}`);
  if (rule.max !== undefined) bounds.push(`<= ${rule.max}`);
  const what = `expected ${rule.integer ? 'an integer' : 'a number'}${bounds.length ? ' ' + bounds.join(' and ') : ''}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${what}, got ${describe(v)}`);
  if (rule.integer && !Number.isInteger(v)) fail(`${what}, got ${v}`);
  if (rule.above !== undefined && !(v > rule.above)) fail(`${what}, got ${v}`);
  if (rule.min !== undefined && v < rule.min) fail(`${what}, got ${v}`);
  if (rule.max !== undefined && v > rule.max) fail(`${what}, got ${v}`);
  return v;
}
