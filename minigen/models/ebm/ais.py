r"""Annealed importance sampling (AIS) for the partition function of a Bernoulli RBM.

Intermediate distributions interpolate between a base-rate model
:math:`p_A(v) \propto e^{b_A^\top v}` (independent visibles, biases from the
data means; :math:`\log Z_A = \sum_i \mathrm{softplus}(b_{A,i}) + H\log 2`) and
the RBM :math:`p_B`:

.. math::
    \log p^*_\beta(v) = (1-\beta)\, b_A^\top v + \beta\, b^\top v
        + \sum_j \mathrm{softplus}(\beta (c_j + v^\top W_{:,j})),

for :math:`0 = \beta_0 < \dots < \beta_K = 1`. Forward AIS starts exact draws of
:math:`p_A`, moves them by one block-Gibbs transition that leaves
:math:`p_{\beta_k}` invariant, and accumulates
:math:`\log w = \sum_k \log p^*_{\beta_k}(v_{k-1}) - \log p^*_{\beta_{k-1}}(v_{k-1})`.
Then :math:`\hat Z_B = Z_A \cdot \mathrm{mean}(w)`, unbiased for :math:`Z_B`, so
:math:`\log \hat Z_B` is a stochastic *lower* bound on :math:`\log Z_B` (Jensen).
The standard error of :math:`\log\hat Z` is the delta-method
:math:`\mathrm{sd}(w) / (\sqrt{M}\,\mathrm{mean}(w))`.

*Reverse* AIS starts chains at the data (approximate samples of :math:`p_B`) and
anneals from :math:`\beta=1` to 0; :math:`\log Z_A - \log\mathrm{mean}(w_{rev})`
estimates :math:`\log Z_B` from *above* (exact when the start is exact), so a
log-likelihood comes as a sandwich (:func:`ais_log_likelihood_bounds`).

References: Neal, Statistics and Computing 11 (2001); Salakhutdinov & Murray,
ICML 2008; Burda, Grosse & Salakhutdinov, AISTATS 2015 (reverse AIS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..._math import logmeanexp_stderr, sigmoid, softplus
from ..._progress import progress
from ..._validation import check_array, check_choice, check_positive_int, flatten_rows
from ...backend import get_backend, to_numpy, use_backend
from ...parallel import chain_uniforms, fixed_blocks, map_ordered, seed_from


@dataclass
class AISResult:
    """``log_z`` estimate, its delta-method ``stderr``, per-chain ``log_weights``."""

    log_z: float
    stderr: float
    log_weights: np.ndarray
    log_z_base: float


def beta_schedule(n_betas: int, kind: str = "geometric"):
    """Inverse temperatures from 0 to 1 (``n_betas`` values): ``"linear"`` or ``"geometric"``
    (a geometric ramp from 1e-4 after a linear start; Salakhutdinov & Murray use
    more temperatures near 1)."""
    n_betas = check_positive_int(n_betas, "n_betas")
    check_choice(kind, "schedule", ("linear", "geometric"))
    if n_betas < 2:
        raise ValueError(f"n_betas must be >= 2, got {n_betas}")
    if kind == "linear":
        return np.linspace(0.0, 1.0, n_betas)
    return np.concatenate([[0.0], np.geomspace(1e-4, 1.0, n_betas - 1)])


def _check_rbm(rbm):
    """The annealing path and base model below are those of binary visibles: refuse other
    models (a Gaussian-Bernoulli RBM would get a finite but wrong log Z)."""
    # duck-typed (this module sits below rbm.py, which calls it): an RBM over binary data
    if getattr(rbm, "data_kind", None) != "binary" or not hasattr(rbm, "free_energy"):
        raise TypeError(f"AIS is implemented for a BernoulliRBM only, got {type(rbm).__name__}")
    rbm._check_fitted()


def _check_base_data(rbm, data, name):
    """``data`` whose column means set the base rates: (n >= 1, V) values in [0, 1]
    (probabilities such as grey levels are fine here, unlike chain start states)."""
    X = flatten_rows(check_array(data, name, ndim=(2, 3, 4)))  # images are flattened
    V = rbm.W_.shape[0]
    if X.shape[0] == 0 or X.shape[1] != V:
        raise ValueError(f"{name} must have shape (n >= 1, {V}) for this RBM (images are "
                         f"flattened), got {tuple(X.shape)}")
    if bool((X < 0).any()) or bool((X > 1).any()):
        raise ValueError(f"{name} must hold values in [0, 1] (binary data or probabilities)")
    return X


def _base_bias(rbm, data):
    xp = get_backend().xp
    if data is None:
        return xp.zeros(rbm.b_.shape)
    p = xp.clip(xp.asarray(data, dtype=np.float64).mean(axis=0), 1e-3, 1 - 1e-3)
    return xp.log(p) - xp.log1p(-p)


def _anneal_block(W, b, c, bA, betas, seed, c0, c1, v0=None, backend="numpy",
                  verbose=False, desc="AIS"):
    """Log weights ``(c1 - c0,)`` of chains ``c0..c1-1`` annealed along ``betas``.

    A task: host arrays in and out, its randomness addressed by (seed, temperature, chain)
    (:func:`minigen.parallel.chain_uniforms`: stream 0 draws the base-model start states,
    stream ``k`` the Gibbs step at ``betas[k]``), so blocks of chains run anywhere give the
    same weights. ``v0`` (reverse AIS): the start states instead of base-model draws.
    """

    with use_backend(backend) as be:
        xp = be.xp
        W, b, c, bA = (be.asarray(a) for a in (W, b, c, bA))
        V, H = W.shape

        if v0 is None:
            pA = sigmoid(bA)
            v = (be.asarray(chain_uniforms(seed, 0, c0, c1, V)) < pA).astype(W.dtype)
        else:
            v = be.asarray(v0).astype(W.dtype)
        lw = xp.zeros(c1 - c0)
        bar = progress(len(betas) - 1, desc, verbose, unit="temperature")  # after a second
        for k in range(1, len(betas)):
            bar.update(1)
            bprev, bk = float(betas[k - 1]), float(betas[k])
            # one product v W per temperature serves both log p*_beta and the Gibbs step:
            # log p*_beta(v) = (1 - beta) bA.v + beta b.v + sum_j softplus(beta (c + v W)_j)
            vbA, vb, a = v @ bA, v @ b, v @ W + c
            lw += ((1 - bk) * vbA + bk * vb + softplus(bk * a).sum(axis=1)) - (
                (1 - bprev) * vbA + bprev * vb + softplus(bprev * a).sum(axis=1))
            u = be.asarray(chain_uniforms(seed, k, c0, c1, H + V)).astype(W.dtype, copy=False)
            ph = sigmoid(bk * a)
            h = (u[:, :H] < ph).astype(W.dtype)
            pv = sigmoid((1 - bk) * bA + bk * (b + h @ W.T))
            v = (u[:, H:] < pv).astype(W.dtype)
        bar.close()
        return be.to_numpy(lw)


def _anneal(rbm, betas, bA, seed, n_chains, v0, executor, block_size, verbose, desc):
    """Every chain's log weight (n,), its blocks run through ``executor`` (in order)."""

    be = get_backend()
    if executor is not None and be.is_gpu:
        raise ValueError("executor= fans AIS chains out to CPU workers; on the cupy backend "
                         "run them on the device (executor=None)")
    # float64 whatever the RBM's dtype: the log weights are sums of differences of
    # free energies in the hundreds
    host = [np.asarray(to_numpy(a), np.float64) for a in (rbm.W_, rbm.b_, rbm.c_, bA)]
    v0h = None if v0 is None else to_numpy(v0)
    tasks = [(*host, betas, seed, c0, c1, None if v0h is None else v0h[c0:c1], be.name,
              verbose and executor is None, desc) for c0, c1 in fixed_blocks(n_chains, block_size)]
    return np.concatenate(map_ordered(executor, _anneal_block, tasks))


def ais_log_partition(rbm, *, n_chains: int = 200, n_betas: int = 2000,
                      schedule: str = "geometric", data=None, random_state=0,
                      verbose: bool = True, executor=None, block_size: int = 25) -> AISResult:
    """Forward AIS estimate of :math:`\\log Z` of a fitted :class:`BernoulliRBM`.

    Parameters
    ----------
    rbm : BernoulliRBM (fitted)
    n_chains, n_betas : number of AIS runs and of inverse temperatures.
    schedule : {"geometric", "linear"}
    data : array (n, V), optional
        Sets the base-rate model's visible biases from the data means (better
        base, lower variance); default: the RBM's own visible biases.
    random_state : int, Generator, ...
        The chains' Philox seed (an int is used as is; anything else gives one draw).
    verbose : bool
        Progress bar over the temperatures when the run takes more than a second.
    executor : concurrent.futures.Executor, optional
        Runs the blocks of chains on it (e.g. a Dask cluster's executor, see
        :mod:`minigen.parallel`); the estimate is bit-identical to ``executor=None`` for any
        executor and number of workers: each chain's randomness is addressed by position
        and every block, wherever it runs, has the same shape.
    block_size : int
        Chains per block (task). The blocks, not the executor, fix the shapes of the matrix
        products, so this is part of the estimate's definition (BLAS may sum a product of
        another shape in another order).
    """
    _check_rbm(rbm)
    if data is not None:
        data = _check_base_data(rbm, data, "data")
    seed = seed_from(random_state)
    n_chains = check_positive_int(n_chains, "n_chains")
    block_size = check_positive_int(block_size, "block_size")
    betas = beta_schedule(n_betas, schedule)
    bA = _base_bias(rbm, data) if data is not None else rbm.b_.astype(np.float64)
    H = rbm.W_.shape[1]
    log_za = float(softplus(bA).sum()) + H * math.log(2.0)
    lw = _anneal(rbm, betas, bA, seed, n_chains, None, executor, block_size, verbose, "AIS")
    lme, se = logmeanexp_stderr(lw)
    return AISResult(float(log_za + lme), se, lw, log_za)


def reverse_ais_log_partition(rbm, data, *, n_betas: int = 2000, schedule: str = "geometric",
                              base_data=None, random_state=0, verbose: bool = True,
                              executor=None, block_size: int = 25) -> AISResult:
    """Reverse AIS from data-initialized chains: an estimate of :math:`\\log Z` from above.

    Each row of ``data`` starts one chain at :math:`\\beta = 1`, annealed to 0;
    ``executor`` / ``block_size`` as in :func:`ais_log_partition` (bit-identical results).
    """
    _check_rbm(rbm)
    v = rbm._check_X(data)  # chain start states: binary, width V, finite
    if v.shape[0] == 0:
        raise ValueError("data must have at least one row (one chain per row), got 0")
    if base_data is not None:
        base_data = _check_base_data(rbm, base_data, "base_data")
    seed = seed_from(random_state)
    block_size = check_positive_int(block_size, "block_size")
    betas = beta_schedule(n_betas, schedule)[::-1]
    bA = _base_bias(rbm, base_data if base_data is not None else v)
    H = rbm.W_.shape[1]
    log_za = float(softplus(bA).sum()) + H * math.log(2.0)
    # = log p_A*/p_B* ratios, mean -> Z_A/Z_B
    lw = _anneal(rbm, betas, bA, seed, v.shape[0], v, executor, block_size, verbose,
                 "reverse AIS")
    lme, se = logmeanexp_stderr(lw)
    return AISResult(float(log_za - lme), se, lw, log_za)


def ais_log_likelihood_bounds(rbm, X, *, n_chains: int = 200, n_betas: int = 2000,
                              data=None, random_state=0, verbose: bool = True,
                              executor=None, block_size: int = 25) -> dict:
    """Mean test log-likelihood of ``X`` as a sandwich from forward and reverse AIS.

    Returns ``{"upper": mean(-F) - logZ_fwd, "lower": mean(-F) - logZ_rev,
    "log_z_forward", "log_z_reverse", "stderr_forward", "stderr_reverse"}``; the
    forward estimate bounds log Z from below (so the log-likelihood from above),
    the reverse one from above in expectation.
    """
    _check_rbm(rbm)
    X = rbm._check_X(X)
    if data is not None:
        data = rbm._check_X(data)  # its first rows start the reverse chains: binary
    mf = float(np.mean(to_numpy(-rbm.free_energy(X))))
    fwd = ais_log_partition(rbm, n_chains=n_chains, n_betas=n_betas,
                            data=data if data is not None else X, random_state=random_state,
                            verbose=verbose, executor=executor, block_size=block_size)
    start = data if data is not None else X
    rev = reverse_ais_log_partition(rbm, start[:n_chains], n_betas=n_betas,
                                    random_state=random_state, verbose=verbose,
                                    executor=executor, block_size=block_size)
    return {"upper": mf - fwd.log_z, "lower": mf - rev.log_z, "log_z_forward": fwd.log_z,
            "log_z_reverse": rev.log_z, "stderr_forward": fwd.stderr,
            "stderr_reverse": rev.stderr}
