import { Command, CommanderError } from 'commander';
import { registerEval } from './eval';
import { registerMetrics } from './metrics';
import { registerTrain } from './train';

const program = new Command('grodd')
  .description('Gradient-Regularized Out-of-Distribution detection (GReg / GReg+): train, evaluate, sweep')
  .showHelpAfterError()
  .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));

registerTrain(program);
registerEval(program);
registerMetrics(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`grodd: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
