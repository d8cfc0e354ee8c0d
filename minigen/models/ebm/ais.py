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

*Reverse* AIS runs the same chain from :math:`\beta=1` down to 0 (each block-Gibbs
kernel is reversible w.r.t. its :math:`p_\beta`, so it is its own reverse kernel).
Started at exact samples of :math:`p_B`, :math:`\log Z_A - \log\mathrm{mean}(w_{rev})`
is a stochastic *upper* bound on :math:`\log Z_B`; started at data it bounds nothing
(:func:`reverse_ais_log_partition`). A lower bound on a test log-likelihood comes instead
from RAISE (:func:`raise_log_likelihood`): one reverse chain per test point gives an
unbiased estimate :math:`\hat p(v)` of the *annealing model* :math:`p_{ann}(v)` (the
density of forward AIS's final state), so :math:`\mathrm{mean}_i \log\hat p(v_i)` is a
stochastic lower bound on its mean log-likelihood; with the forward estimate this gives
:func:`ais_log_likelihood_bounds`.

References: Neal, Statistics and Computing 11 (2001); Salakhutdinov & Murray,
ICML 2008; Burda, Grosse & Salakhutdinov, "Accurate and conservative estimates of MRF
log-likelihood using reverse annealing", AISTATS 2015 (RAISE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..._math import logmeanexp, logmeanexp_stderr, sigmoid, softplus
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


def beta_schedule(n_betas: int, kind: str = "piecewise"):
    """Inverse temperatures from 0 to 1 (``n_betas`` values).

    ``"piecewise"`` (default): Salakhutdinov & Murray's (2008) three linear pieces, 500,
    4,000 and 10,000 steps over [0, 0.5], [0.5, 0.9] and [0.9, 1] in proportion: most
    temperatures near 1, where a trained RBM's conditionals are sharp and the chains move
    least. ``"linear"``: evenly spaced. ``"geometric"``: ``0`` then a geometric ramp
    from 1e-4, which puts only ~1% of the temperatures above 0.9.

    Why piecewise is the default (measured, bench/README.md): RAISE bounds the
    *annealing model*, which matches the RBM only when the schedule is slow where the
    RBM is sharp. On the Fashion-MNIST RBM (784 x 500) at 40,000 temperatures, RAISE
    NLL - forward NLL per test image was -2.16 +- 0.30 nats (geometric: the two
    estimates cross), -0.57 +- 0.11 (linear) and +0.20 +- 0.08 (piecewise: a sandwich).
    """
    n_betas = check_positive_int(n_betas, "n_betas")
    check_choice(kind, "schedule", ("linear", "geometric", "piecewise"))
    if n_betas < 2:
        raise ValueError(f"n_betas must be >= 2, got {n_betas}")
    if kind == "linear":
        return np.linspace(0.0, 1.0, n_betas)
    if kind == "piecewise":
        return _piecewise_schedule(n_betas)
    if n_betas == 2:  # geomspace(1e-4, 1, 1) is [1e-4]: the schedule must end at 1
        return np.array([0.0, 1.0])
    return np.concatenate([[0.0], np.geomspace(1e-4, 1.0, n_betas - 1)])


def _piecewise_schedule(n_betas: int) -> np.ndarray:
    # Salakhutdinov & Murray (2008): 500, 4,000 and 10,000 linear steps in [0, 0.5],
    # [0.5, 0.9] and [0.9, 1], scaled to n_betas.
    if n_betas < 4:
        return np.linspace(0.0, 1.0, n_betas)
    steps = n_betas - 1
    n1 = max(1, round(steps * 500 / 14500))
    n2 = max(1, round(steps * 4000 / 14500))
    n3 = steps - n1 - n2  # >= 1 for every steps >= 3
    return np.concatenate([np.linspace(0.0, 0.5, n1 + 1)[:-1], np.linspace(0.5, 0.9, n2 + 1)[:-1],
                           np.linspace(0.9, 1.0, n3 + 1)])


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


def _start_states(rbm, X, name, what):
    """Chain start states: binary rows of width V (finite), at least one."""
    v = rbm._check_X(X)
    if v.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row ({what}), got 0")
    return v


def _base_log_partition(bA, n_hidden) -> float:
    r""":math:`\log Z_A = \sum_i \mathrm{softplus}(b_{A,i}) + H \log 2` (the base model's
    visibles are independent, its hiddens free)."""
    return float(softplus(bA).sum()) + n_hidden * math.log(2.0)


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
                      schedule: str = "piecewise", data=None, random_state=0,
                      verbose: bool = True, executor=None, block_size: int = 25) -> AISResult:
    """Forward AIS estimate of :math:`\\log Z` of a fitted :class:`BernoulliRBM`.

    Parameters
    ----------
    rbm : BernoulliRBM (fitted)
    n_chains, n_betas : number of AIS runs and of inverse temperatures.
    schedule : {"piecewise", "linear", "geometric"}
        See :func:`beta_schedule`.
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
    log_za = _base_log_partition(bA, rbm.W_.shape[1])
    lw = _anneal(rbm, betas, bA, seed, n_chains, None, executor, block_size, verbose, "AIS")
    lme, se = logmeanexp_stderr(lw)
    return AISResult(float(log_za + lme), se, lw, log_za)


def reverse_ais_log_partition(rbm, data, *, n_betas: int = 2000, schedule: str = "piecewise",
                              base_data=None, random_state=0, verbose: bool = True,
                              executor=None, block_size: int = 25) -> AISResult:
    r"""Reverse AIS estimate :math:`\log Z_A - \log\mathrm{mean}(w_{rev})` of :math:`\log Z`.

    Each row of ``data`` starts one chain at :math:`\beta = 1`, annealed to 0, and
    :math:`\log w_{rev} = \sum_k \log p^*_{\beta_{k-1}} - \log p^*_{\beta_k}` along it.
    When the rows are *exact samples of the RBM*, :math:`\mathrm{mean}(w_{rev})` is
    unbiased for :math:`Z_A / Z_B` and the estimate is a stochastic upper bound on
    :math:`\log Z` (Jensen), exact as the schedule refines. Started at *data* it is an
    estimate that bounds nothing: the pooled weights mix every point's ratio
    :math:`p_{ann}(v)/p_B(v)` (on Fashion-MNIST it came 30 nats below forward AIS). For a
    test log-likelihood bound use :func:`raise_log_likelihood`.
    ``executor`` / ``block_size`` as in :func:`ais_log_partition` (bit-identical results).
    """
    _check_rbm(rbm)
    v = _start_states(rbm, data, "data", "one chain per row")
    if base_data is not None:
        base_data = _check_base_data(rbm, base_data, "base_data")
    seed = seed_from(random_state)
    block_size = check_positive_int(block_size, "block_size")
    betas = beta_schedule(n_betas, schedule)[::-1]
    bA = _base_bias(rbm, base_data if base_data is not None else v)
    log_za = _base_log_partition(bA, rbm.W_.shape[1])
    # = log p_A*/p_B* ratios, mean -> Z_A/Z_B
    lw = _anneal(rbm, betas, bA, seed, v.shape[0], v, executor, block_size, verbose,
                 "reverse AIS")
    lme, se = logmeanexp_stderr(lw)
    return AISResult(float(log_za - lme), se, lw, log_za)


@dataclass
class RAISEResult:
    """``mean`` of the per-point ``log_likelihoods`` (a stochastic lower bound), its
    ``stderr`` over the points, the chains' ``log_weights`` (n, n_chains_per_point) and
    the base model's ``log_z_base``."""

    mean: float
    stderr: float
    log_likelihoods: np.ndarray
    log_weights: np.ndarray
    log_z_base: float


def raise_log_likelihood(rbm, X, *, n_chains_per_point: int = 1, n_betas: int = 2000,
                         schedule: str = "piecewise", base_data=None, random_state=0,
                         verbose: bool = True, executor=None,
                         block_size: int = 25) -> RAISEResult:
    r"""RAISE: a stochastic *lower* bound on the log-likelihood of each row of ``X``.

    Chain :math:`r` of point :math:`v` starts at :math:`x_{K-1} = v` and runs the
    block-Gibbs kernels :math:`T_k = T_{\beta_k}` for :math:`k = K-1, \dots, 1` (reversible,
    so each is its own reverse kernel) down to :math:`x_0`. The forward chain :math:`x_0 \sim p_A`,
    :math:`x_k \sim T_{\beta_k}(\cdot \mid x_{k-1})` defines the *annealing model*
    :math:`p_{ann}(x_{K-1})` (the state forward AIS weighs at :math:`\beta=1`), and the
    ratio of the forward to the reverse path probability,

    .. math::
        \hat p(v) = \frac{p_A(x_0) \prod_{k=1}^{K-1} T_k(x_k \mid x_{k-1})}
                         {\prod_{k=1}^{K-1} T_k(x_{k-1} \mid x_k)}
            = \frac{p^*_0(x_0)}{Z_A} \prod_{k=1}^{K-1}
              \frac{p^*_{\beta_k}(x_k)}{p^*_{\beta_k}(x_{k-1})},

    is unbiased for :math:`p_{ann}(v)` (detailed balance
    :math:`p^*_\beta(x) T(x' \mid x) = p^*_\beta(x') T(x \mid x')`). So
    :math:`\mathbb E \log \hat p(v) \le \log p_{ann}(v)` (Jensen): the mean over points is
    a lower bound on the annealing model's mean log-likelihood, which Burda et al. find
    conservative for the RBM itself (:math:`p_{ann} \to p_B` as the schedule refines).
    That part is no theorem: on points the RBM finds unlikely a short schedule's
    :math:`p_{ann}` can be the likelier (a 10x6 RBM, 100 temperatures: +0.53 nats on
    coin flips; a 784x500 RBM after one epoch on Fashion-MNIST: RAISE 25 nats above
    forward AIS per test image at 1000 temperatures, 20 at 3000), so compare with
    forward AIS and add temperatures while they cross.
    With :math:`m` chains per point, :math:`\log\hat p(v) = \log\mathrm{mean}_r \hat p_r(v)`.

    Parameters
    ----------
    rbm : BernoulliRBM (fitted)
    X : array (n, V) of binary rows (images are flattened): the test points.
    n_chains_per_point : int
        Chains per point; more tightens the bound (the Jensen gap shrinks as 1/m).
    n_betas, schedule : as in :func:`ais_log_partition`.
    base_data : array (n, V), optional
        Sets the base-rate model from its column means: the *training* data, never the
        test points (the base model is part of :math:`p_{ann}`); default the RBM's own
        visible biases.
    random_state, verbose, executor, block_size : as in :func:`ais_log_partition`; chain
        :math:`i m + r` is chain ``r`` of row ``i`` (results bit-identical over executors).

    Returns
    -------
    RAISEResult
        ``stderr`` is the standard deviation of the per-point values over
        :math:`\sqrt n` (``inf`` for one point): it covers the chains' noise and, for
        points drawn at random, the choice of points.
    """
    _check_rbm(rbm)
    v = _start_states(rbm, X, "X", "one test point per row")
    if base_data is not None:
        base_data = _check_base_data(rbm, base_data, "base_data")
    m = check_positive_int(n_chains_per_point, "n_chains_per_point")
    seed, block_size = seed_from(random_state), check_positive_int(block_size, "block_size")
    betas = beta_schedule(n_betas, schedule)[::-1]
    bA = _base_bias(rbm, base_data) if base_data is not None else rbm.b_.astype(np.float64)
    n = v.shape[0]
    log_za = _base_log_partition(bA, rbm.W_.shape[1])
    starts = get_backend().xp.repeat(v, m, axis=0)  # chain i*m + r starts at row i
    lw = _anneal(rbm, betas, bA, seed, n * m, starts, executor, block_size, verbose,
                 "RAISE").reshape(n, m)
    # _anneal on the reversed schedule: after j steps its state is x_{K-1-j}, and step j
    # (j = 1..K) adds log p*_{b_{K-j}} - log p*_{b_{K-j+1}} at x_{K-j} before moving it
    # (the last move, at beta = 0, is unused), so with k = K - j
    #   lw = sum_{k=0}^{K-1} [log p*_{b_k}(x_k) - log p*_{b_{k+1}}(x_k)];
    # telescoping the ratio above, log p_hat = log p*_0(x_0) - log Z_A
    #   + sum_{k=1}^{K-1} [log p*_{b_k}(x_k) - log p*_{b_k}(x_{k-1})]
    #   = lw + log p*_{b_K}(v) - log Z_A = lw - F(v) - log Z_A  (p*_1 = e^{-F}).
    neg_f = to_numpy(-rbm.free_energy(v)).astype(np.float64)
    ll = neg_f - log_za + logmeanexp(lw, axis=1)  # log mean_r w_r, per point
    se = float(ll.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return RAISEResult(float(ll.mean()), se, ll, lw, log_za)


def ais_log_likelihood_bounds(rbm, X, *, n_chains: int = 200, n_betas: int = 2000,
                              schedule: str = "piecewise",
                              n_points=None, n_chains_per_point: int = 1, data=None,
                              random_state=0, verbose: bool = True, executor=None,
                              block_size: int = 25) -> dict:
    """Mean test log-likelihood of ``X`` between a forward-AIS and a RAISE estimate.

    ``upper`` = :math:`\\mathrm{mean}_X(-F) - \\log\\hat Z_{fwd}`: forward AIS bounds
    :math:`\\log Z` from below in expectation, so this bounds the log-likelihood from
    above (``n_chains`` chains; base rates from ``data``, else from ``X``).
    ``lower`` = :func:`raise_log_likelihood` on the first ``n_points`` rows of ``X``
    (default ``min(n, n_chains)``: the forward run's cost), ``n_chains_per_point`` chains
    each, base rates from ``data`` (the training data) else the RBM's visible biases: a
    stochastic lower bound on the annealing model's mean log-likelihood (for a random
    choice of rows, on the whole of ``X``'s). Both use ``n_betas`` temperatures on the
    same ``schedule`` (see :func:`beta_schedule`).

    Returns ``{"upper", "lower", "lower_stderr", "upper_subset", "n_points",
    "log_z_forward", "stderr_forward", "gap", "gap_stderr"}``: ``lower_stderr`` is RAISE's
    standard error over its points, ``upper_subset`` the forward estimate over the same
    points as ``lower`` (the like-for-like pair), ``stderr_forward`` the delta-method
    standard error of ``log_z_forward`` (so of ``upper``). ``gap`` = ``upper_subset -
    lower``, the paired per-point difference :math:`\\frac1n\\sum_i (\\log\\hat p_{fwd}(x_i)
    - \\log\\hat p_{RAISE}(x_i))`, and ``gap_stderr`` its standard error (the spread of the
    per-point differences over :math:`\\sqrt n`, and ``stderr_forward``, in quadrature).
    The two estimates sandwich the log-likelihood when ``gap >= 0``; a gap below zero by
    several ``gap_stderr`` means they cross: the annealing model is likelier than the
    RBM on these points, and the schedule is too fast where the RBM is sharp.
    """
    _check_rbm(rbm)
    X = rbm._check_X(X)
    if data is not None:
        data = rbm._check_X(data)  # training rows: base rates of both runs
    n_points = min(X.shape[0], n_chains) if n_points is None else check_positive_int(
        n_points, "n_points")
    if n_points > X.shape[0]:
        raise ValueError(f"n_points must be <= the {X.shape[0]} rows of X, got {n_points}")
    neg_f = to_numpy(-rbm.free_energy(X))
    fwd = ais_log_partition(rbm, n_chains=n_chains, n_betas=n_betas, schedule=schedule,
                            data=data if data is not None else X, random_state=random_state,
                            verbose=verbose, executor=executor, block_size=block_size)
    low = raise_log_likelihood(rbm, X[:n_points], n_chains_per_point=n_chains_per_point,
                               n_betas=n_betas, schedule=schedule, base_data=data,
                               random_state=random_state, verbose=verbose, executor=executor,
                               block_size=block_size)
    # per point: forward log p(x_i) = -F(x_i) - log Z_fwd, minus RAISE's log p(x_i)
    diff = neg_f[:n_points] - fwd.log_z - low.log_likelihoods
    gap_se = np.sqrt(diff.var(ddof=1) / len(diff) + fwd.stderr ** 2) if len(diff) > 1 \
        else float("inf")
    return {"upper": float(neg_f.mean()) - fwd.log_z, "lower": low.mean,
            "gap": float(diff.mean()), "gap_stderr": float(gap_se),
            "lower_stderr": low.stderr,
            "upper_subset": float(neg_f[:n_points].mean()) - fwd.log_z,
            "n_points": len(low.log_likelihoods), "log_z_forward": fwd.log_z,
            "stderr_forward": fwd.stderr}
