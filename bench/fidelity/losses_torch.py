"""grodd's training objective in PyTorch, written from the method's definition (METHOD.md),
for the side-by-side runs (train_torch.py) and the one-step fidelity bench (gradients_torch.py):

  L = L_CE + λ_S·L_S + λ_OE·L_OE + λ_∇S·L_∇S over one train-mode forward of [ID batch, outliers],
  E = -logsumexp(logits), L_S = mean_in relu(E - m_in)² + mean_out relu(m_out - E)²,
  D = -mean_in relu(m_in - E) + mean_out relu(E - m_out), L_∇S = mean_i ‖∂D/∂x_i‖ (exact, double
  backprop) or |D(x + h·u) - D(x)| / (h·n) with u the detached unit input gradients (finite difference),
  L_OE = mean_out(logsumexp - mean of the logits).

The extra forward passes of the finite-difference form leave the BN running statistics alone, as in
grodd (only the pass the losses read updates them)."""
import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F


def energy(logits):
    return -torch.logsumexp(logits, 1)


def detection(e, n_in, m_in, m_out):
    d = -F.relu(m_in - e[:n_in]).mean()
    return d + F.relu(e[n_in:] - m_out).mean() if len(e) > n_in else d


def per_sample_norm(g, eps):
    """‖g_i‖; eps > 0 adds eps under the square root as grodd does (src/train/greg-loss.ts), 0 is torch's norm."""
    flat = g.flatten(1)
    return flat.norm(dim=1) if eps == 0 else torch.sqrt((flat * flat).sum(1) + eps)


@contextlib.contextmanager
def frozen_running_stats(model):
    """Train-mode passes inside leave every BN's running statistics unchanged."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, v in zip(bns, saved):
            m.momentum = v


def step_loss(model, x, y, n_in, s, norm_eps=0.0):
    """(total loss, {ce, energy, oe, grad_reg} tensors, logits) of one step; `s` holds energy_weight,
    oe_weight, grad_reg_weight, mode ('exact' | 'finite-difference'), fd_step, m_in, m_out."""
    n = len(x)
    outliers = n > n_in
    use_s = s["energy_weight"] > 0 and outliers
    use_oe = s["oe_weight"] > 0 and outliers
    use_reg = s["grad_reg_weight"] > 0 and outliers
    margins = (s["m_in"], s["m_out"])
    zero = x.new_zeros(())
    direction = None
    if use_reg and s["mode"] == "finite-difference":
        xx = x.detach().requires_grad_(True)
        with frozen_running_stats(model):
            (g,) = torch.autograd.grad(detection(energy(model(xx)), n_in, *margins), xx)
        norms = g.flatten(1).norm(dim=1).view(-1, *([1] * (g.dim() - 1)))
        direction = torch.where(norms > 0, g / norms.clamp_min(1e-300), torch.zeros_like(g)).detach()
    exact = use_reg and s["mode"] == "exact"
    if exact:
        x = x.detach().requires_grad_(True)
    logits = model(x)
    e = energy(logits)
    reg = zero
    if exact:
        (g,) = torch.autograd.grad(detection(e, n_in, *margins), x, create_graph=True)
        reg = per_sample_norm(g, norm_eps).mean()
    elif direction is not None:
        with frozen_running_stats(model):
            shifted = detection(energy(model(x + s["fd_step"] * direction)), n_in, *margins)
        reg = (shifted - detection(e, n_in, *margins)).abs() / (s["fd_step"] * n)
    ce = F.cross_entropy(logits[:n_in], y)
    ls = (F.relu(e[:n_in] - margins[0]) ** 2).mean() + (F.relu(margins[1] - e[n_in:]) ** 2).mean() if use_s else zero
    lo = logits[n_in:]
    oe = (torch.logsumexp(lo, 1) - lo.mean(1)).mean() if use_oe else zero
    total = ce + s["energy_weight"] * ls + s["oe_weight"] * oe + (s["grad_reg_weight"] * reg if use_reg else zero)
    return total, {"ce": ce, "energy": ls, "oe": oe, "grad_reg": reg}, logits


def settings_of(train_cfg):
    """`step_loss` settings from a resolved grodd `train` config section (fixed margins)."""
    m = train_cfg["margins"]
    if m["mode"] != "fixed":
        raise SystemExit(f"margins.mode {m['mode']}: the PyTorch side follows fixed margins only")
    return {
        "energy_weight": train_cfg["energy_loss"]["weight"],
        "oe_weight": train_cfg["oe_loss"]["weight"],
        "grad_reg_weight": train_cfg["grad_reg"]["weight"],
        "mode": train_cfg["grad_reg"]["mode"],
        "fd_step": train_cfg["grad_reg"]["fd_step"],
        "m_in": m["m_in"],
        "m_out": m["m_out"],
    }
