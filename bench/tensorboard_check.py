"""Reads a grodd run's TensorBoard event file with TensorBoard's own loader and checks it against train_steps.csv.

Usage: python3 bench/tensorboard_check.py RUN_DIR   (needs the `tensorboard` Python package; grodd itself never runs Python)

Prints each scalar tag with its number of points and first/last steps, then compares every step's
train/loss with the loss column of train_steps.csv (float32 rounding). Exit status 1 on a mismatch.
"""
import csv
import os
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(run_dir: str) -> int:
    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag in tags:
        ev = acc.Scalars(tag)
        print(f"{tag:32s} {len(ev):6d} points, steps {ev[0].step}..{ev[-1].step}, last {ev[-1].value:.6g}")
    with open(os.path.join(run_dir, "train_steps.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    logged = {e.step: e.value for e in acc.Scalars("train/loss")}
    expected = {int(r["global_step"]): float(np.float32(float(r["loss"]))) for r in rows}
    bad = [s for s in expected if logged.get(s) != expected[s]]
    print(f"train/loss: {len(logged)} TensorBoard points, {len(expected)} train_steps.csv rows, {len(bad)} mismatches")
    return 1 if bad or set(logged) != set(expected) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
