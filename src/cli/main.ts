import { Command, CommanderError } from 'commander';
import { registerBench } from './bench';
import { registerDatasets } from './datasets';
import { registerEval } from './eval';
import { registerMetrics } from './metrics';
import { registerReport } from './report';
import { registerSweep } from './sweep';
import { registerTrain } from './train';
import { registerWeights } from './weights';
import { registerModels } from './models';
import { registerScore } from './score';

const program = new Command('grodd')
  .description('Gradient-Regularized Out-of-Distribution detection (GReg / GReg+): train, evaluate, sweep')
  .showHelpAfterError()
  .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));

registerTrain(program);
registerEval(program);
registerMetrics(program);
registerDatasets(program);
registerWeights(program);
registerModels(program);
registerScore(program);
registerSweep(program);
registerReport(program);
registerBench(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`grodd: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
