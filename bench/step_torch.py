"""PyTorch reference for bench/step.ts: the same small CNN and the same three
training steps (plain, exact GReg, finite-difference GReg), timed on CPU.
Used only for side-by-side benchmarks; grodd itself never runs Python.
Prints one JSON line: {"torch": version, "threads": n, "plain_ms": ..., ..., "peak_rss_mb": ...}."""
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F

from models_torch import SmallCnn

threads, n_in, n_out, warmup, reps = (int(a) for a in sys.argv[1:6])
CHANNELS, STRIDES = json.loads(sys.argv[6]), json.loads(sys.argv[7])
torch.set_num_threads(threads)
torch.manual_seed(0)
M_IN, M_OUT = -7.0, -3.0


def energy(logits):
    return -torch.logsumexp(logits, 1)


def detection(e):
    return -F.relu(M_IN - e[:n_in]).mean() + F.relu(e[n_in:] - M_OUT).mean()


def base_loss(logits, y):
    e = energy(logits)
    ls = (F.relu(e[:n_in] - M_IN) ** 2).mean() + (F.relu(M_OUT - e[n_in:]) ** 2).mean()
    return F.cross_entropy(logits[:n_in], y) + 0.1 * ls


model = SmallCnn(CHANNELS, STRIDES, num_classes=6)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
x = torch.rand(n_in + n_out, 1, 28, 28)
y = torch.randint(0, 6, (n_in,))


def plain():
    opt.zero_grad()
    base_loss(model(x), y).backward()
    opt.step()


def exact():
    opt.zero_grad()
    xx = x.clone().requires_grad_(True)
    logits = model(xx)
    g = torch.autograd.grad(detection(energy(logits)), xx, create_graph=True)[0]
    reg = g.flatten(1).norm(dim=1).mean()
    (base_loss(logits, y) + reg).backward()
    opt.step()


def finite_difference(h=1e-3):
    xx = x.clone().requires_grad_(True)
    g = torch.autograd.grad(detection(energy(model(xx))), xx)[0]
    u = g / g.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
    opt.zero_grad()
    logits = model(x)
    reg = (detection(energy(model(x + h * u))) - detection(energy(logits))).abs() / (h * len(x))
    (base_loss(logits, y) + reg).backward()
    opt.step()


out = {"torch": torch.__version__, "threads": threads}
for name, fn in (("plain", plain), ("exact", exact), ("finite_difference", finite_difference)):
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    out[f"{name}_ms"] = (time.perf_counter() - t) / reps * 1000
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
