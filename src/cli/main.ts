import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';

/**
 * The grodd command line. Only the module of the command being run is loaded (the others pull in
 * TensorFlow.js, sharp and the data readers, which take seconds to load); the rest are listed by
 * name and summary so that `grodd --help` stays instant.
 */

type Register = (program: Command) => void;

/** Every command: its one-line summary for `grodd --help`, and how to load its full definition. */
const COMMANDS: { name: string; summary: string; load: () => Register }[] = [
  { name: 'train', summary: 'train from a config (plus key=value overrides), evaluate', load: () => require('./train').registerTrain },
  { name: 'eval', summary: 'evaluate a run into evals/<name>/ (or the run: --replace)', load: () => require('./eval').registerEval },
  { name: 'metrics', summary: 'OOD metrics of scores (grodd scores.csv or score,label)', load: () => require('./metrics').registerMetrics },
  { name: 'datasets', summary: 'dataset presets: list, fetch, inspect; check a config\'s data', load: () => require('./datasets').registerDatasets },
  { name: 'import', summary: 'import PyTorch weights (.safetensors) as a run', load: () => require('./weights').registerWeights },
  { name: 'export', summary: "export a run's weights as a PyTorch state_dict", load: () => require('./weights').registerWeights },
  { name: 'models', summary: 'the model architectures and their sizes', load: () => require('./models').registerModels },
  { name: 'score', summary: "score images with a run's detector (CSV)", load: () => require('./score').registerScore },
  { name: 'sweep', summary: 'run a grid x trials x seeds of trainings; rerunning resumes', load: () => require('./sweep').registerSweep },
  { name: 'report', summary: 'figures and an HTML report of runs', load: () => require('./report').registerReport },
  { name: 'bench', summary: 'the CI benchmark: train, evaluate, compare with a baseline', load: () => require('./bench').registerBench },
];

/** The command a command line runs (`grodd help X` asks about X). */
function invokedCommand(argv: string[]): string | undefined {
  const [first, second] = argv;
  return first === 'help' ? second : first;
}

function version(): string {
  // Two levels up from src/cli/ (or dist/cli/) is the package root, in a checkout and when installed.
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

const program = new Command('grodd')
  .description('Gradient-Regularized Out-of-Distribution detection (GReg / GReg+): train, evaluate, sweep')
  .version(version(), '-V, --version', 'print the version')
  .showHelpAfterError()
  .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));

const wanted = invokedCommand(process.argv.slice(2));
const chosen = COMMANDS.find((c) => c.name === wanted);
if (chosen) chosen.load()(program);
for (const c of COMMANDS) {
  // Listed for help and for "did you mean"; a module registering several commands (import, export) added its own.
  if (!program.commands.some((k) => k.name() === c.name)) program.command(c.name).summary(c.summary);
}

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`grodd: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
