"""PyTorch side of `npm run bench:models` (bench/models.ts), and grodd's
architectures for the other PyTorch-side scripts (bench/step_torch.py, bench/fidelity/).

The architectures written the way the reference code builds them (same
state_dict names and shapes as grodd's models), timed at the same batch as
grodd: forward images/s (eval mode, no grad), a plain training step
(CE + lambda_S * energy margin loss), an exact GReg step (double backprop
of the detection term's input gradient) and its finite-difference form, SGD
nesterov; and the peak resident memory of the process.

Usage: python3 models_torch.py ARCH THREADS N_ID N_OUT SIZE WARMUP REPS
Prints one JSON line: {"torch": version, "forward_ips": .., "plain_ms": .., "exact_ms": .., "fd_ms": .., "peak_rss_mb": ..}.
Needs only torch (Debian's python3-torch); never used by grodd itself.
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- grodd's small CNN (src/models/small-cnn.ts) ----
class ConvBnBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SmallCnn(nn.Module):
    def __init__(self, channels=(32, 64, 128), strides=(2, 2, 2), num_classes=10, in_channels=1):
        super().__init__()
        blocks, cin = [], in_channels
        for c, s in zip(channels, strides):
            blocks.append(ConvBnBlock(cin, c, s))
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.blocks(x).mean((2, 3)))


# ---- CIFAR ResNet-18 (kuangliu naming) ----
class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (planes, stride) in enumerate(zip([64, 128, 256, 512], [1, 2, 2, 2])):
            blocks = []
            for s in [stride, 1]:
                blocks.append(BasicBlock(cin, planes, s))
                cin = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


# ---- WRN (OE / Energy code naming) ----
class WrnBlock(nn.Module):
    def __init__(self, cin, cout, stride, drop=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop = drop
        self.equal = cin == cout
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        act = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(act)))
        if self.drop > 0:
            out = F.dropout(out, p=self.drop, training=self.training)
        out = self.conv2(out)
        return (x if self.equal else self.convShortcut(act)) + out


class NetworkBlock(nn.Module):
    def __init__(self, n, cin, cout, stride, drop):
        super().__init__()
        self.layer = nn.Sequential(*[WrnBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1, drop) for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth=40, num_classes=10, widen=2, drop=0.0):
        super().__init__()
        w = [16, 16 * widen, 32 * widen, 64 * widen]
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, w[0], 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(n, w[0], w[1], 1, drop)
        self.block2 = NetworkBlock(n, w[1], w[2], 2, drop)
        self.block3 = NetworkBlock(n, w[2], w[3], 2, drop)
        self.bn1 = nn.BatchNorm2d(w[3])
        self.fc = nn.Linear(w[3], num_classes)

    def forward(self, x):
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(F.relu(self.bn1(out)), 1), 1))


# ---- DenseNet-BC-100 (OE / Energy code naming) ----
class Bottleneck(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([x, out], 1)


class Transition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv1(F.relu(self.bn1(x))), 2)


class DenseBlock(nn.Module):
    def __init__(self, n, cin, growth):
        super().__init__()
        self.layer = nn.Sequential(*[Bottleneck(cin + i * growth, growth) for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class DenseNet3(nn.Module):
    def __init__(self, depth=100, num_classes=10, growth=12):
        super().__init__()
        n = (depth - 4) // 6
        ch = 2 * growth
        self.conv1 = nn.Conv2d(3, ch, 3, 1, 1, bias=False)
        self.block1 = DenseBlock(n, ch, growth)
        ch += n * growth
        self.trans1 = Transition(ch, ch // 2)
        ch //= 2
        self.block2 = DenseBlock(n, ch, growth)
        ch += n * growth
        self.trans2 = Transition(ch, ch // 2)
        ch //= 2
        self.block3 = DenseBlock(n, ch, growth)
        ch += n * growth
        self.bn1 = nn.BatchNorm2d(ch)
        self.fc = nn.Linear(ch, num_classes)

    def forward(self, x):
        out = self.trans1(self.block1(self.conv1(x)))
        out = self.block3(self.trans2(self.block2(out)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(F.relu(self.bn1(out)), 1), 1))


# ---- DenseNet-121 (torchvision naming) ----
class DenseLayer(nn.Module):
    def __init__(self, cin, growth=32):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))], 1)


class DenseNet121(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        f = nn.Sequential()
        f.add_module("conv0", nn.Conv2d(3, 64, 7, 2, 3, bias=False))
        f.add_module("norm0", nn.BatchNorm2d(64))
        f.add_module("relu0", nn.ReLU())
        f.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        ch = 64
        for i, n in enumerate([6, 12, 24, 16]):
            block = nn.Sequential()
            for j in range(n):
                block.add_module(f"denselayer{j + 1}", DenseLayer(ch + j * 32))
            f.add_module(f"denseblock{i + 1}", block)
            ch += n * 32
            if i < 3:
                t = nn.Sequential()
                t.add_module("norm", nn.BatchNorm2d(ch))
                t.add_module("relu", nn.ReLU())
                t.add_module("conv", nn.Conv2d(ch, ch // 2, 1, bias=False))
                t.add_module("pool", nn.AvgPool2d(2, 2))
                f.add_module(f"transition{i + 1}", t)
                ch //= 2
        f.add_module("norm5", nn.BatchNorm2d(ch))
        self.features = f
        self.classifier = nn.Linear(ch, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(F.relu(self.features(x)), 1), 1))


def build(arch, num_classes, channels=(32, 64, 128), strides=(2, 2, 2), in_channels=1):
    """`arch` as grodd names it; channels, strides and in_channels apply to small-cnn only."""
    return {
        "small-cnn": lambda: SmallCnn(channels, strides, num_classes, in_channels),
        "resnet18": lambda: ResNet18(num_classes),
        "wrn-40-2": lambda: WideResNet(40, num_classes, 2),
        "densenet-bc-100": lambda: DenseNet3(100, num_classes),
        "densenet121": lambda: DenseNet121(num_classes),
    }[arch]()


def energy(logits):
    return -torch.logsumexp(logits, 1)


def step(model, opt, x, y, n_in, mode, m_in=-7.0, m_out=-3.0, h=1e-3):
    """mode: plain, exact (double backprop) or fd (finite difference along the detached input gradient)."""

    def detection(e):
        return -F.relu(m_in - e[:n_in]).mean() + F.relu(e[n_in:] - m_out).mean()

    if mode == "fd":
        xx = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(detection(energy(model(xx))), xx)
        u = g / g.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
    x = x.clone().requires_grad_(mode == "exact")
    logits = model(x)
    e = energy(logits)
    ce = F.cross_entropy(logits[:n_in], y)
    ls = (F.relu(e[:n_in] - m_in) ** 2).mean() + (F.relu(m_out - e[n_in:]) ** 2).mean()
    loss = ce + 0.1 * ls
    if mode == "exact":
        (g,) = torch.autograd.grad(detection(e), x, create_graph=True)
        loss = loss + g.flatten(1).norm(dim=1).mean()
    elif mode == "fd":
        loss = loss + (detection(energy(model(x + h * u))) - detection(e)).abs() / h
    opt.zero_grad()
    loss.backward()
    opt.step()


def main():
    arch, threads = sys.argv[1], int(sys.argv[2])
    n_in, n_out, size, warmup, reps = (int(a) for a in sys.argv[3:8])
    batch = n_in + n_out
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    k = 1000 if arch == "densenet121" else 10
    model = build(arch, k)
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.rand(batch, 3, size, size)
    y = torch.randint(0, k, (n_in,))
    out = {"torch": torch.__version__}
    model.eval()
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        t = time.perf_counter()
        for _ in range(reps):
            model(x)
        out["forward_ips"] = batch * reps / (time.perf_counter() - t)
    model.train()
    for mode in ("plain", "exact", "fd"):
        for _ in range(warmup):
            step(model, opt, x, y, n_in, mode)
        t = time.perf_counter()
        for _ in range(reps):
            step(model, opt, x, y, n_in, mode)
        out[f"{mode}_ms"] = (time.perf_counter() - t) / reps * 1000
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
