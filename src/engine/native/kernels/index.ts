/**
 * Every kernel of the native backend. The set covers what training (all
 * architectures, every method, both regularizer forms, micro-batches),
 * evaluation, scoring and sampling run, found by recording the kernels the
 * test suite calls; a kernel outside it fails with tfjs's "Kernel 'X' not
 * registered for backend 'native'".
 */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { activationKernels } from './activations';
import { addNKernel } from './add-n';
import { batchMatMulKernel } from './batch-mat-mul';
import { batchNormKernels } from './batch-norm';
import { binaryKernels } from './binary';
import { castKernels } from './cast';
import { concatSplitKernels } from './concat-split';
import { conv2DKernel } from './conv2d';
import { conv2DBackpropFilterKernel } from './conv2d-backprop-filter';
import { conv2DBackpropInputKernel } from './conv2d-backprop-input';
import { cumsumKernel } from './cumsum';
import { fillKernels } from './fill';
import { gatherKernels } from './gather';
import { optimizerKernels } from './optimizer';
import { poolKernels } from './pool';
import { reduceKernels } from './reduce';
import { reluGradKernel } from './relu-grad';
import { selectKernel } from './select';
import { shapeKernels } from './shape';
import { sliceKernels } from './slice';
import { softmaxKernel } from './softmax';
import { topKKernel } from './top-k';
import { unaryKernels } from './unary';

export const NATIVE_KERNELS: KernelConfig[] = [
  ...unaryKernels,
  ...binaryKernels,
  ...activationKernels,
  ...castKernels,
  ...reduceKernels,
  ...shapeKernels,
  ...sliceKernels,
  ...concatSplitKernels,
  ...gatherKernels,
  ...fillKernels,
  ...poolKernels,
  ...batchNormKernels,
  ...optimizerKernels,
  conv2DKernel,
  conv2DBackpropInputKernel,
  conv2DBackpropFilterKernel,
  addNKernel,
  batchMatMulKernel,
  reluGradKernel,
  selectKernel,
  softmaxKernel,
  topKKernel,
  cumsumKernel,
];
