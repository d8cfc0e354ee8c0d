r"""Which side of the KL: forward (mode covering) vs reverse (mode seeking) on the ring.

The same model is fitted to the 8-Gaussian ring (:class:`~minigen.datasets.toy2d.Ring8`)
twice, with the same optimizer and step budget:

* **forward KL** :math:`\mathrm{KL}(p\|q)` = maximum likelihood on samples of :math:`p`
  (:func:`~minigen.objectives.fit_forward_kl`);
* **reverse KL** :math:`\mathrm{KL}(q\|p)` from the unnormalized density alone, no data
  (:func:`~minigen.objectives.fit_reverse_kl`),
  :math:`\log\tilde p(x) = \log\sum_k e^{-\|x-\mu_k\|^2/2\sigma^2}`, whose exact
  :math:`\log Z = \log(8 \cdot 2\pi\sigma^2)` is known.

Measured for each fit: both KLs against the exact ring density (Monte Carlo with standard
errors, :func:`minigen.divergences.kl_monte_carlo`), the fraction of :math:`q`'s mass
within :math:`3\sigma` of each mode (a mode is *covered* when it holds at least a tenth of
an even share of that mass), and :math:`\log Z` by importance weighting :math:`q`
(:func:`~minigen.objectives.estimate_log_z`) with its standard error and ESS.

Call :func:`kl_direction` (``mode`` ``"smoke"``: Gaussian only, seconds; ``"quick"``: +
a short RealNVP; ``"full"``: longer runs); it returns the numbers and a matplotlib
``Figure`` (:func:`plot_kl_direction`). ``docs/kl_direction.md`` shows the results.
"""

from __future__ import annotations

import time

import numpy as np

from .backend import to_numpy
from .datasets.toy2d import Ring8
from .divergences import kl_monte_carlo
from .models.flows import DiagonalGaussian, RealNVP
from .objectives import (
    estimate_log_z,
    fit_forward_kl,
    fit_reverse_kl,
    gaussian_mixture_log_density,
)
from .plot import new_figure

__all__ = ["BUDGETS", "mode_masses", "kl_direction", "plot_kl_direction", "summary",
           "markdown_table"]

#: per mode: models, steps, draws per step, Adam learning rate per (model, direction),
#: evaluation draws, ring samples for the forward fit
BUDGETS = {
    "smoke": {"models": ("gaussian",), "steps": {"gaussian": 400}, "batch": 256,
              "lr": {"gaussian": (0.01, 0.05)}, "n_eval": 20_000, "n_data": 5_000},
    "quick": {"models": ("gaussian", "realnvp"), "steps": {"gaussian": 600, "realnvp": 800},
              "batch": 256, "lr": {"gaussian": (0.01, 0.05), "realnvp": (3e-3, 3e-3)},
              "n_eval": 20_000, "n_data": 20_000, "realnvp": {"n_couplings": 4, "hidden": 32}},
    "full": {"models": ("gaussian", "realnvp"), "steps": {"gaussian": 1000, "realnvp": 2000},
             "batch": 256, "lr": {"gaussian": (0.01, 0.05), "realnvp": (2e-3, 2e-3)},
             "n_eval": 100_000, "n_data": 50_000, "realnvp": {"n_couplings": 6, "hidden": 32}},
}


def mode_masses(samples, means, radius: float) -> np.ndarray:
    """Fraction of ``samples`` (n, 2) within ``radius`` of each of ``means`` (K, 2): (K,)."""
    s = np.asarray(to_numpy(samples), dtype=np.float64)
    d = np.linalg.norm(s[:, None, :] - np.asarray(means)[None], axis=2)
    return (d < radius).mean(axis=0)


def _make(name, budget):
    if name == "gaussian":
        return DiagonalGaussian(n_bins=None, dtype="float64")
    return RealNVP(n_bins=None, dtype="float64", **budget["realnvp"])


def _measure(model, ring, log_p, n_eval, rng) -> dict:
    kl_pq, kl_pq_se = kl_monte_carlo(lambda n, r: ring.sample(n, r), ring.log_prob,
                                     lambda x: model.log_prob(x), n_eval, rng)
    xq, log_q = model.sample(n_eval, random_state=rng, return_log_prob=True)
    d = to_numpy(log_q) - ring.log_prob(to_numpy(xq))
    mass = mode_masses(xq, ring.means, 3 * ring.scale)
    covered = int((mass >= 0.1 * mass.sum() / len(mass)).sum()) if mass.sum() > 0 else 0
    lz = estimate_log_z(model, log_p, n_eval, rng)
    return {"kl_pq": kl_pq, "kl_pq_se": kl_pq_se, "kl_qp": float(d.mean()),
            "kl_qp_se": float(d.std(ddof=1) / np.sqrt(n_eval)), "mode_mass": mass.tolist(),
            "modes_covered": covered, "log_z": lz.log_z, "log_z_se": lz.log_z_stderr,
            "elbo": lz.elbo, "elbo_se": lz.elbo_stderr, "ess": lz.ess, "n_eval": n_eval}


def kl_direction(mode: str = "quick", seed: int = 0, verbose: bool = False,
                 figure: bool = True) -> dict:
    """Fit each model of ``BUDGETS[mode]`` by forward and by reverse KL; measure; plot.

    Returns a dict: ``rows`` (one per fit: ``label``, ``model``, ``direction``, ``kl_pq``,
    ``kl_qp`` and their ``_se``, ``mode_mass`` (8,), ``modes_covered``, ``log_z``,
    ``log_z_se``, ``elbo``, ``ess``, ``train_time_s``, ``train_steps``), ``log_z_exact``,
    ``entropy`` (the ring's, Monte Carlo), ``protocol`` (a sentence), ``models``
    (label -> fitted model) and ``figure`` (a matplotlib Figure, None if ``figure=False``
    or matplotlib is missing).
    """
    if mode not in BUDGETS:
        raise ValueError(f"mode must be one of {sorted(BUDGETS)}, got {mode!r}")
    b = BUDGETS[mode]
    ring = Ring8()
    log_p, log_z = gaussian_mixture_log_density(ring.means, ring.scale)
    X = ring.sample(b["n_data"], random_state=seed)
    rows, models = [], {}
    for name in b["models"]:
        for direction in ("forward", "reverse"):
            model, steps = _make(name, b), b["steps"][name]
            lr = b["lr"][name][direction == "reverse"]
            t0 = time.perf_counter()
            if direction == "forward":
                fit_forward_kl(model, X, n_steps=steps, batch_size=b["batch"], learning_rate=lr,
                               random_state=seed, verbose=verbose)
            else:
                fit_reverse_kl(
                    model,
                    log_p,
                    b["batch"],
                    n_steps=steps,
                    learning_rate=lr,
                    n_features=2,
                    n_eval=0,
                    random_state=seed,
                    verbose=verbose,
                )
            dt = time.perf_counter() - t0
            label = f"{'Gaussian' if name == 'gaussian' else 'RealNVP'}, {direction} KL"
            row = {
                "label": label,
                "model": name,
                "direction": direction,
                "train_time_s": dt,
                "train_steps": steps,
            }
            row.update(
                _measure(model, ring, log_p, b["n_eval"], np.random.default_rng([seed, len(rows)]))
            )
            rows.append(row)
            models[label] = model
    h, h_se = ring.entropy(b["n_eval"], random_state=seed + 1)
    out = {
        "rows": rows,
        "log_z_exact": log_z,
        "entropy": h,
        "entropy_se": h_se,
        "models": models,
        "figure": None,
        "mode": mode,
        "seed": seed,
        "protocol": (
            f"ring8 (radius {ring.radius}, std {ring.scale}); forward KL on "
            f"{b['n_data']} samples, reverse KL on log p~ alone; {b['batch']} "
            f"draws per step, Adam; every estimate from {b['n_eval']} fresh draws; "
            f"seed {seed}"
        ),
    }
    if figure:
        try:
            out["figure"] = plot_kl_direction(out)
        except ImportError:
            out["figure"] = None
    return out


def summary(result: dict) -> dict:
    """``result`` of :func:`kl_direction` without the fitted models and the figure (JSON-able)."""
    return {k: v for k, v in result.items() if k not in ("models", "figure")}


def markdown_table(result: dict) -> str:
    """The rows of :func:`kl_direction` as a markdown table (the docs page's columns)."""
    lines = [
        "| fit | KL(p‖q) | KL(q‖p) | modes covered | IW log Z ± s.e. | ESS / n |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['label']} | {r['kl_pq']:.3f} ± {r['kl_pq_se']:.3f} | "
            f"{r['kl_qp']:.3f} ± {r['kl_qp_se']:.3f} | {r['modes_covered']}/8 | "
            f"{r['log_z']:.3f} ± {r['log_z_se']:.3f} | {r['ess'] / r['n_eval']:.1%} |"
        )
    lines.append(f"\nexact log Z = {result['log_z_exact']:.3f}; {result['protocol']}")
    return "\n".join(lines)


def plot_kl_direction(result: dict, extent=(-3.0, 3.0, -3.0, 3.0), resolution: int = 120):
    """One panel per fit: :math:`q`'s density, the ring's :math:`3\\sigma` circles, and the
    numbers. Returns a matplotlib ``Figure`` (needs ``minigen[plot]``)."""
    ring = Ring8()
    rows = result["rows"]
    fig, _ = new_figure(figsize=(3.2 * len(rows), 3.6))
    fig.clear()
    axes = fig.subplots(1, len(rows), squeeze=False)
    xs = np.linspace(extent[0], extent[1], resolution)
    gx, gy = np.meshgrid(xs, np.linspace(extent[2], extent[3], resolution))
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    t = np.linspace(0, 2 * np.pi, 64)
    for ax, row in zip(axes[0], rows, strict=True):
        q = np.exp(to_numpy(result["models"][row["label"]].log_prob(pts))).reshape(gx.shape)
        ax.imshow(q, origin="lower", extent=extent, cmap="viridis")
        for mu in ring.means:
            ax.plot(
                mu[0] + 3 * ring.scale * np.cos(t),
                mu[1] + 3 * ring.scale * np.sin(t),
                color="white",
                lw=0.8,
            )
        ax.set_title(
            f"{row['label']}\nmodes covered {row['modes_covered']}/8\n"
            f"KL(p||q) {row['kl_pq']:.2f}, KL(q||p) {row['kl_qp']:.2f}",
            fontsize=8,
        )
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(
        "forward KL covers the modes, reverse KL seeks one (white: 3 sigma of each mode)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
