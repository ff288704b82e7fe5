"""PyTorch side of the one-step fidelity bench (bench/fidelity/gradients.ts): float64 is the
reference, PyTorch float32 the yardstick. Three steps, each reading and writing files in DIR:

  prepare DIR ARCH SEED  from grodd's initial weights (init.safetensors, PyTorch layout): BN running
                         statistics from a warm-up batch, BN affine weights perturbed, and the step's
                         batch (ID images and labels, an outlier candidate pool); writes w1.safetensors
                         and batch.safetensors (sizes from spec.json).
  margins DIR ARCH       with the outliers grodd picked (picks.safetensors): shifts BN biases until no
                         ReLU input of the float64 training passes (both outlier batches, exact and
                         finite-difference) lies within DELTA·sd of zero, places the energy margins in
                         the widest gaps of the batch's energies; writes w2.safetensors, margins.json and
                         the float64 eval-mode energies and features of the pool (scoring64.safetensors).
  compare DIR ARCH       every loss of spec.json in float64 and float32 against grodd's results
                         (grodd-<backend>.safetensors): prints one JSON line with the loss error, the
                         per-tensor normwise gradient error ‖g − g64‖ / ‖g64‖ and the BN running-statistics
                         error of PyTorch float32 and of grodd on each backend, and the pool-scoring errors.

Needs only Debian's python3-torch; never used by grodd itself."""
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models_torch import build  # noqa: E402
from losses_torch import detection, energy, frozen_running_stats, step_loss  # noqa: E402
from tensors import read_file, write_file  # noqa: E402
from train_torch import outputs  # noqa: E402

DELTA = 1e-4
NORM_EPS = 1e-12  # grodd's, so that both sides compute the same function


def nchw(a, dtype):
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).to(dtype).contiguous()


def model_from(spec, weights, dtype):
    m = build(spec["arch"], spec["num_classes"], in_channels=spec["input_shape"][2])
    m.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    return m.to(dtype).train()


def state_f32(model):
    return {k: v.detach().to(torch.float32 if v.is_floating_point() else v.dtype).numpy() for k, v in model.state_dict().items()}


class ReluSites:
    """Records the input of every ReLU on conv activations (4-D) in call order, with the BN layer run
    last before it: a shift of that layer's bias moves the ReLU input of the same channel (the layer
    feeds it directly, or through a residual sum)."""

    def __init__(self, model):
        self.calls, self.last_bn, self.model = [], None, model

    def __enter__(self):
        self.hooks = [m.register_forward_hook(self._ran) for m in self.model.modules() if isinstance(m, nn.BatchNorm2d)]
        self.relu = F.relu

        def relu(x, inplace=False):
            if x.dim() == 4:
                self.calls.append((self.last_bn, x.detach()))
            return self.relu(x, inplace=inplace)

        F.relu = relu
        return self

    def __exit__(self, *exc):
        F.relu = self.relu
        for h in self.hooks:
            h.remove()

    def _ran(self, module, inputs, output):
        self.last_bn = module


def batches(spec, batch, picks, dtype):
    """The step's two [ID, outliers] batches: the pool's first candidates (random sampling) and grodd's picks."""
    x_in = nchw(batch["x_in"], dtype)
    pool = nchw(batch["pool"], dtype)
    return {"random": torch.cat([x_in, pool[: spec["n_out"]]]), "picked": torch.cat([x_in, pool[torch.from_numpy(picks.astype(np.int64))]])}


def relu_inputs(model, xs, n_in, margins, fd_step):
    """ReLU inputs of each float64 training pass a step makes: per batch the forward pass and the
    finite-difference pass at x + h·u (u: unit input gradients of D). Running statistics untouched."""
    passes = []
    with frozen_running_stats(model):
        for x in xs.values():
            xx = x.clone().requires_grad_(True)
            with ReluSites(model) as r:
                logits = model(xx)
            passes.append(r.calls)
            (g,) = torch.autograd.grad(detection(energy(logits), n_in, *margins), xx)
            u = g / g.flatten(1).norm(dim=1).clamp_min(1e-300).view(-1, 1, 1, 1)
            with torch.no_grad(), ReluSites(model) as r:
                model(x + fd_step * u)
            passes.append(r.calls)
    return passes


def widest_gap(values):
    """The midpoint of the widest gap between consecutive sorted values (neither end)."""
    v = np.sort(values)
    k = int(np.argmax(np.diff(v)))
    return float((v[k] + v[k + 1]) / 2)


def choose_margins(model, xs, n_in):
    with torch.no_grad(), frozen_running_stats(model):
        e = [energy(model(x)).numpy() for x in xs.values()]
    return widest_gap(np.concatenate([a[:n_in] for a in e])), widest_gap(np.concatenate([a[n_in:] for a in e]))


def shift_for(values, band):
    """The smallest bias shift (in steps of band) after which no value lies within band of zero."""
    v = np.sort(values)
    for j in range(1, 10000):
        for d in (j * band, -j * band):
            i = np.searchsorted(v, -d)
            near = [abs(v[k] + d) for k in (i - 1, i) if 0 <= k < len(v)]
            if min(near) > band:
                return d
    raise RuntimeError("no bias shift clears the ReLU inputs")


def keep_relus_off_zero(model, xs, n_in, fd_step):
    """Shifts BN biases until every ReLU input of every pass is at least DELTA·sd (its channel's
    spread) away from zero; returns (margins, shifts, smallest distance in sd). All sites too near
    are shifted at once, then everything is measured again (a shift moves every later site)."""
    shifts = 0
    for _ in range(100):
        margins = choose_margins(model, xs, n_in)
        passes = relu_inputs(model, xs, n_in, margins, fd_step)
        worst, fixes = np.inf, []
        for site in range(len(passes[0])):
            bn = passes[0][site][0]
            vals = [p[site][1].transpose(0, 1).flatten(1) for p in passes]  # [C, values] per pass
            sd = vals[0].std(dim=1).clamp_min(1e-30)
            allv = torch.cat(vals, 1)
            dist = (allv.abs().min(dim=1).values / sd).numpy()
            worst = min(worst, float(dist.min()))
            for c in np.flatnonzero(dist < DELTA):
                if bn is None:
                    raise RuntimeError(f"ReLU site {site} has no BN layer before it")
                fixes.append((bn, c, shift_for(allv[c].numpy(), 2 * DELTA * float(sd[c]))))
        if not fixes:
            return margins, shifts, worst
        with torch.no_grad():
            for bn, c, d in fixes:
                bn.bias[c] += d
        shifts += len(fixes)
    raise RuntimeError("BN bias shifts did not clear the ReLU inputs in 100 rounds")


def prepare(d, spec):
    rng = np.random.default_rng(spec["seed"])
    w0, _ = read_file(os.path.join(d, "init.safetensors"))
    model = model_from(spec, w0, torch.float64)
    h, w, c = spec["input_shape"]
    n = spec["n_in"] + spec["pool"]
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0  # running statistics := the warm-up batch's
    with torch.no_grad():
        model(torch.from_numpy(rng.standard_normal((n, c, h, w))))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
                m.weight.mul_(torch.from_numpy(1 + 0.25 * rng.uniform(-1, 1, m.weight.shape)))
                m.bias.add_(torch.from_numpy(0.25 * rng.standard_normal(m.bias.shape)))
    write_file(os.path.join(d, "w1.safetensors"), state_f32(model))
    images = lambda k: rng.standard_normal((k, h, w, c)).astype(np.float32)  # noqa: E731
    write_file(
        os.path.join(d, "batch.safetensors"),
        {"x_in": images(spec["n_in"]), "y_in": rng.integers(0, spec["num_classes"], spec["n_in"]).astype(np.int32), "pool": images(spec["pool"])},
    )


def margins(d, spec):
    w1, _ = read_file(os.path.join(d, "w1.safetensors"))
    batch, _ = read_file(os.path.join(d, "batch.safetensors"))
    picks, _ = read_file(os.path.join(d, "picks.safetensors"))
    model = model_from(spec, w1, torch.float64)
    xs = batches(spec, batch, picks["picks"], torch.float64)
    (m_in, m_out), shifts, worst = keep_relus_off_zero(model, xs, spec["n_in"], spec["fd_step"])
    write_file(os.path.join(d, "w2.safetensors"), state_f32(model))
    with open(os.path.join(d, "margins.json"), "w") as f:
        json.dump({"m_in": m_in, "m_out": m_out, "bias_shifts": shifts, "min_relu_distance_sd": worst}, f)
    # The float64 scoring of the pool with the final weights (as float32 values: grodd reads those).
    final = model_from(spec, state_f32(model), torch.float64)
    logits, feats = outputs(final, nchw(batch["pool"], torch.float64))
    write_file(os.path.join(d, "scoring64.safetensors"), {"energies": energy(logits).numpy().astype(np.float32), "features": feats.numpy().astype(np.float32)})


def normwise(a, ref):
    a, ref = np.asarray(a, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    den = np.linalg.norm(ref)
    return float(np.linalg.norm(a - ref) / den) if den > 0 else float(np.linalg.norm(a))


def torch_step(spec, w2, batch, picks, loss, dtype):
    """Loss, gradients (by name), BN running statistics after the step, and the ReLU inputs of the forward pass."""
    model = model_from(spec, w2, dtype)
    x = batches(spec, batch, picks, dtype)[loss["batch"]]
    y = torch.from_numpy(batch["y_in"].astype(np.int64))
    with ReluSites(model) as r:
        total, _, _ = step_loss(model, x, y, spec["n_in"], loss["settings"], NORM_EPS)
    total.backward()
    grads = {k: p.grad.detach().double().numpy() for k, p in model.named_parameters()}
    stats = {k: v.detach().double().numpy() for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))}
    return total.item(), grads, stats, [v for _, v in r.calls]


def compare(d, spec):
    w2, _ = read_file(os.path.join(d, "w2.safetensors"))
    batch, _ = read_file(os.path.join(d, "batch.safetensors"))
    picks = read_file(os.path.join(d, "picks.safetensors"))[0]["picks"]
    with open(os.path.join(d, "margins.json")) as f:
        m = json.load(f)
    groddsides = {b: read_file(os.path.join(d, f"grodd-{b}.safetensors"))[0] for b in spec["backends"] if os.path.exists(os.path.join(d, f"grodd-{b}.safetensors"))}
    names = [k for k, _ in model_from(spec, w2, torch.float64).named_parameters()]
    result = {"tensors": names, "margins": m, "losses": {}, "scoring": {}}
    for loss in spec["losses"]:
        loss = {**loss, "settings": {**loss["settings"], "m_in": m["m_in"], "m_out": m["m_out"]}}
        l64, g64, s64, r64 = torch_step(spec, w2, batch, picks, loss, torch.float64)
        l32, g32, s32, r32 = torch_step(spec, w2, batch, picks, loss, torch.float32)

        def errors(lv, grads, stats):
            return {
                "loss_err": abs(lv - l64) / abs(l64),
                "grad_err": [normwise(grads[k], g64[k]) for k in names],
                "bn_err": max([normwise(stats[k], s64[k]) for k in s64], default=0.0),
            }

        flips = sum(int(((a > 0) != (b > 0)).sum()) for a, b in zip(r32, r64))
        entry = {"loss64": l64, "torch32": {**errors(l32, g32, s32), "relu_flips": flips}, "grodd": {}}
        for b, t in groddsides.items():
            p = f"{loss['name']}/"
            entry["grodd"][b] = errors(float(t[p + "loss"][0]), {k: t[p + "grad/" + k] for k in names}, {k: t[p + "bn/" + k] for k in s64})
        result["losses"][loss["name"]] = entry
    ref = read_file(os.path.join(d, "scoring64.safetensors"))[0]
    model32 = model_from(spec, w2, torch.float32)
    logits, feats = outputs(model32, nchw(batch["pool"], torch.float32))
    result["scoring"]["torch32"] = {"energy_err": normwise(energy(logits).numpy(), ref["energies"]), "feature_err": normwise(feats.numpy(), ref["features"])}
    for b, t in groddsides.items():
        result["scoring"][b] = {"energy_err": normwise(t["scoring/energies"], ref["energies"]), "feature_err": normwise(t["scoring/features"], ref["features"])}
    print(json.dumps(result))


def main():
    step, d = sys.argv[1], sys.argv[2]
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)
    {"prepare": prepare, "margins": margins, "compare": compare}[step](d, spec)


if __name__ == "__main__":
    main()
