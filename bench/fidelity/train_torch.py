"""The PyTorch side of the side-by-side runs (bench/fidelity/paired.ts): trains grodd's protocol
from the frames of bench/fidelity/stream.ts on stdin (the run's initial weights, every step's
batches and learning rate, then the test sets) and writes its metrics as JSON.

Everything a run decides by itself is this file's own PyTorch code, written from the method's
definition (METHOD.md), not from grodd's: the losses and double backprop (losses_torch.py),
torch.optim's SGD / Adam, nn.BatchNorm2d's running statistics, the GReg+ pick (eval-mode energies
and penultimate features of the candidate pool, sorted by energy, per-sample normalised features
clustered by scikit-learn's KMeans, each cluster's lowest- and highest-energy candidate, a random
fill), the energy score, FPR95 (the Outlier-Exposure routine) and AUROC (scikit-learn).

Usage: stream.ts --config C.yaml | python3 train_torch.py --out R.json [--threads 1] [--kmeans-tol 1e-4]
Needs only Debian's python3-torch and python3-sklearn; never used by grodd itself."""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from sklearn.cluster import KMeans
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models_torch import build  # noqa: E402
from losses_torch import energy, settings_of, step_loss  # noqa: E402
from tensors import frames  # noqa: E402


def nchw(a):
    return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()


def head(model):
    """The classifier head: the model's last nn.Linear (its input is the penultimate features)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


@torch.no_grad()
def outputs(model, x, chunk=1000):
    """Eval-mode logits and penultimate features of x, in chunks."""
    model.eval()
    feats = []
    hook = head(model).register_forward_hook(lambda m, inp, out: feats.append(inp[0]))
    try:
        logits = torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])
    finally:
        hook.remove()
    model.train()
    return logits, torch.cat(feats)


def pick_outliers(model, pool, s, rng, tol):
    """GReg+ selection from a candidate pool (METHOD.md, "Energy-based sampling"): pool indices."""
    if s["normalize"] not in ("per-sample", "none"):
        raise SystemExit(f"sampling.normalize {s['normalize']}: the PyTorch side implements per-sample and none")
    logits, z = outputs(model, pool)
    e = energy(logits).numpy()
    order = np.argsort(e, kind="stable")
    kept = order[s["spt"] : s.get("ept", len(pool))]
    z = z[kept].numpy().astype(np.float64)
    if s["normalize"] == "per-sample":
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        z = np.divide(z, norms, out=np.zeros_like(z), where=norms > 0)
    batch = s["auxBatchSize"]
    k = min(s["clusters"], max(1, batch // (2 if s["twoWay"] else 1)), len(kept))
    labels = KMeans(n_clusters=k, n_init=s["nInit"], tol=tol, random_state=int(rng.integers(2**31))).fit(z).labels_
    low, high = [], []
    for j in range(k):
        members = np.flatnonzero(labels == j)  # positions in ascending energy
        if len(members) == 0:
            continue
        low.append(members[0])
        if s["twoWay"] and len(members) > 1:
            high.append(members[-1])
    picked = (sorted(low) + sorted(high))[:batch]
    rest = np.setdiff1d(np.arange(len(kept)), picked)
    fill = rng.choice(rest, size=batch - len(picked), replace=False) if batch > len(picked) else []
    return kept[np.r_[np.array(picked, dtype=np.int64), np.asarray(fill, dtype=np.int64)]]


def fpr_at_recall(id_scores, ood_scores, recall=0.95):
    """FPR on OOD at the ROC point whose TPR is nearest to `recall` (the Outlier-Exposure routine:
    distinct thresholds from the highest down to the first with TPR 1, the lowest one on ties)."""
    scores = np.r_[id_scores, ood_scores]
    is_id = np.r_[np.ones(len(id_scores)), np.zeros(len(ood_scores))]
    desc = np.argsort(scores, kind="mergesort")[::-1]
    scores, is_id = scores[desc], is_id[desc]
    ends = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(is_id)[ends]
    fps = 1 + ends - tps
    last = np.searchsorted(tps, tps[-1])
    tpr = tps[: last + 1] / tps[-1]
    k = len(tpr) - 1 - np.argmin(np.abs(tpr - recall)[::-1])
    return fps[k] / len(ood_scores)


def optimizer_for(model, o, lr):
    if o["name"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=o["momentum"], nesterov=o["nesterov"], weight_decay=o["weight_decay"])
    if o["name"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weight_decay"])
    raise SystemExit(f"optimizer {o['name']}: not followed by the PyTorch side")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kmeans-tol", type=float, default=1e-4, help="scikit-learn's default")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    stream = frames(sys.stdin.buffer)
    run, weights = next(stream)
    cfg, t = run["config"], run["config"]["train"]
    if t["micro_batches"] != 1:
        raise SystemExit("train.micro_batches: the PyTorch side trains whole batches only")
    m = cfg["model"]
    model = build(m["arch"], run["num_classes"], m.get("channels"), m.get("strides"), run["input_shape"][2])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    model.train()
    opt = optimizer_for(model, t["optimizer"], t["lr"])
    settings = settings_of(t)
    sampling = t["sampling"] if t["sampling"]["method"] == "energy" else None
    if sampling:
        sampling = {**sampling, **run["sampling"]}
    rng = np.random.default_rng(cfg["seed"])
    log, sums, epoch = [], None, 0
    evals = {}
    for desc, a in stream:
        if desc["kind"] == "step":
            if desc["epoch"] != epoch:
                if sums:
                    log.append({"epoch": epoch, **{k: v / sums["steps"] for k, v in sums.items() if k != "steps"}})
                epoch, sums = desc["epoch"], {"steps": 0, "loss": 0.0, "ce": 0.0, "energy": 0.0, "oe": 0.0, "grad_reg": 0.0, "train_acc": 0.0}
            x_in, y = nchw(a["in_x"]), torch.from_numpy(a["in_y"]).long()
            x = x_in
            if "out_x" in a:
                pool = nchw(a["out_x"])
                x_out = pool[torch.from_numpy(pick_outliers(model, pool, sampling, rng, args.kmeans_tol))] if sampling else pool
                x = torch.cat([x_in, x_out])
            for g in opt.param_groups:
                g["lr"] = desc["lr"]
            total, parts, logits = step_loss(model, x, y, len(x_in), settings)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sums["steps"] += 1
            sums["loss"] += total.item()
            for k, v in parts.items():
                sums[k] += v.item()
            sums["train_acc"] += (logits[: len(x_in)].argmax(1) == y).float().mean().item()
        elif desc["kind"] == "eval":
            if sums:
                log.append({"epoch": epoch, **{k: v / sums["steps"] for k, v in sums.items() if k != "steps"}})
                sums = None
            logits, _ = outputs(model, nchw(a["x"]))
            evals[desc["name"]] = (desc["role"], torch.logsumexp(logits, 1).numpy().astype(np.float64), (logits.argmax(1).numpy() == a["y"]).mean())
    (id_name,) = [k for k, v in evals.items() if v[0] == "id"]
    id_scores = evals[id_name][1]
    metrics = {}
    for name, (role, scores, _) in evals.items():
        if role == "ood":
            labels = np.r_[np.ones(len(id_scores)), np.zeros(len(scores))]
            metrics[name] = {"fpr95": fpr_at_recall(id_scores, scores), "auroc": roc_auc_score(labels, np.r_[id_scores, scores])}
    result = {
        "side": "pytorch",
        "torch": torch.__version__,
        "method": t["method"],
        "seed": cfg["seed"],
        "id_accuracy": float(evals[id_name][2]),
        "metrics": metrics,
        "log": log,
        "seconds": time.perf_counter() - started,
    }
    tmp = f"{args.out}.tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
