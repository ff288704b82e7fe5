"""PyTorch reference for bench/kernels.ts: the same 3x3 convolutions (forward,
and forward + input and weight gradients) and matmul, in GMAC/s on CPU.
Used only for side-by-side benchmarks; grodd itself never runs Python.
Prints one JSON line keyed by case name, plus "matmul" and "torch"."""
import json
import sys
import time

import torch
import torch.nn.functional as F

threads, reps = int(sys.argv[1]), int(sys.argv[2])
cases, size = json.loads(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)


def ms_per(fn):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps * 1e3


out = {"torch": torch.__version__}
for name, (n, h, w, ci), co, stride in cases:
    x = (torch.rand(n, ci, h, w) - 0.5).requires_grad_()
    k = (torch.rand(co, ci, 3, 3) - 0.5).requires_grad_()
    with torch.no_grad():
        y = F.conv2d(x, k, stride=stride, padding=1)
    dy = torch.rand_like(y) - 0.5
    macs = n * y.shape[2] * y.shape[3] * co * 9 * ci

    def fwd():
        with torch.no_grad():
            F.conv2d(x, k, stride=stride, padding=1)

    def train():
        torch.autograd.grad((F.conv2d(x, k, stride=stride, padding=1) * dy).sum(), [x, k])

    out[name] = {"fwd": macs / ms_per(fwd) / 1e6, "train": 3 * macs / ms_per(train) / 1e6}
a, b = torch.rand(size, size), torch.rand(size, size)
out["matmul"] = size ** 3 / ms_per(lambda: a @ b) / 1e6
print(json.dumps(out))
