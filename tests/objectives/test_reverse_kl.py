"""Reverse KL: reparameterized gradients (finite differences), log q, log Z, the ring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minigen.autograd import F
from minigen.datasets.toy2d import Ring8
from minigen.models.flows import NICE, DiagonalGaussian, Glow, RealNVP
from minigen.objectives import (
    effective_sample_size,
    estimate_log_z,
    fit_forward_kl,
    fit_reverse_kl,
    gaussian_mixture_log_density,
    importance_log_z,
    reverse_kl_loss_and_grads,
)
from minigen.training import TrainingDiverged

RING = Ring8()
LOG_P, LOG_Z = gaussian_mixture_log_density(RING.means, RING.scale)


def _std_normal(x):
    """log N(x; 0, I) up to a constant, for any event shape (autograd mode)."""
    flat = F.reshape(x, (x.shape[0], -1))
    return -0.5 * F.sum(flat * flat, axis=1)


def _built(model, n_features=2, seed=0, scale=0.3):
    """Build ``model`` through the public path (one step at lr 0), then randomize it
    (zero-initialised coupling layers would hide gradient bugs)."""
    fit_reverse_kl(
        model,
        _std_normal,
        4,
        n_steps=1,
        learning_rate=0.0,
        n_features=n_features,
        n_eval=0,
        random_state=seed,
    )
    rng = np.random.default_rng(seed + 100)
    for p in model.trainable_arrays().values():
        p[...] = rng.standard_normal(p.shape) * scale
    return model


def _directional_check(model, loss_fn, seed=0, eps=1e-6, rtol=1e-5, atol=1e-8):
    """``loss_fn() -> (loss, grads)`` at fixed randomness: grads . v vs central differences."""
    params = model.trainable_arrays()
    _, grads = loss_fn()
    grads = {k: g.copy() for k, g in grads.items()}
    rng = np.random.default_rng(seed)
    for _ in range(3):
        v = {k: rng.standard_normal(p.shape) for k, p in params.items()}
        ad = sum(float((grads[k] * v[k]).sum()) for k in params)
        vals = []
        for sign in (1.0, -1.0):
            for k, p in params.items():
                p += sign * eps * v[k]
            vals.append(loss_fn()[0])
            for k, p in params.items():
                p -= sign * eps * v[k]
        fd = (vals[0] - vals[1]) / (2 * eps)
        assert abs(fd - ad) <= atol + rtol * abs(fd), (fd, ad)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RealNVP(n_couplings=2, hidden=4, n_hidden=1, n_bins=None, dtype="float64"),
        lambda: NICE(n_couplings=2, hidden=4, n_hidden=1, n_bins=None, dtype="float64"),
        lambda: Glow(n_steps=2, hidden=4, n_hidden=1, n_bins=None, dtype="float64"),
        lambda: DiagonalGaussian(n_bins=None, dtype="float64"),
    ],
    ids=["realnvp", "nice", "glow", "gaussian"],
)
def test_reverse_kl_gradient_matches_finite_differences(make):
    flow = _built(make(), seed=3)
    _directional_check(flow, lambda: reverse_kl_loss_and_grads(flow, LOG_P, 16, random_state=7))


def test_the_finite_difference_check_catches_a_wrong_gradient():
    flow = _built(RealNVP(n_couplings=2, hidden=4, n_hidden=1, n_bins=None, dtype="float64"))

    def wrong():  # drops the target's gradient: a plausible bug (a detached log p~)
        loss, grads = reverse_kl_loss_and_grads(flow, lambda x: LOG_P(x.data), 16, random_state=7)
        return loss, grads

    with pytest.raises(TypeError, match="detached"):
        wrong()

    def shrunk():
        loss, grads = reverse_kl_loss_and_grads(flow, LOG_P, 16, random_state=7)
        return loss, {k: 0.9 * g for k, g in grads.items()}

    with pytest.raises(AssertionError):
        _directional_check(flow, shrunk)


def test_array_targets_with_their_gradient_or_finite_differences():
    flow = _built(RealNVP(n_couplings=2, hidden=4, n_hidden=1, n_bins=None, dtype="float64"))
    # the toy's exact (normalized) log_prob on arrays: same loss up to log Z, same gradient
    fd_loss, fd_grads = reverse_kl_loss_and_grads(
        flow, RING.log_prob, 16, random_state=7, grad_log_p="finite-difference"
    )
    ad_loss, ad_grads = reverse_kl_loss_and_grads(flow, LOG_P, 16, random_state=7)
    assert fd_loss == pytest.approx(ad_loss + LOG_Z, abs=1e-9)
    for k in ad_grads:
        np.testing.assert_allclose(fd_grads[k], ad_grads[k], rtol=1e-5, atol=1e-7)
    _directional_check(
        flow,
        lambda: reverse_kl_loss_and_grads(
            flow, RING.log_prob, 16, random_state=7, grad_log_p="finite-difference"
        ),
    )


def test_a_neural_ebm_as_the_target():
    from minigen.models.ebm import NeuralEBM

    ebm = NeuralEBM(hidden=(16, 16), max_epochs=1, n_steps=5, batch_size=64, random_state=0)
    ebm.fit(RING.sample(256, random_state=0))
    flow = _built(RealNVP(n_couplings=2, hidden=4, n_hidden=1, n_bins=None, dtype="float64"))

    def log_p(x):
        return -ebm.energy(x)

    def grad(x):
        return -ebm.energy_grad(x)[1]

    def loss_fn():
        return reverse_kl_loss_and_grads(flow, log_p, 16, random_state=2, grad_log_p=grad)

    _directional_check(flow, loss_fn)
    fd = reverse_kl_loss_and_grads(flow, log_p, 16, random_state=2,
                                   grad_log_p="finite-difference")[1]
    for k, g in loss_fn()[1].items():
        np.testing.assert_allclose(fd[k], g, rtol=1e-4, atol=1e-6)
    res = fit_reverse_kl(
        flow, log_p, 64, n_steps=5, learning_rate=1e-3, grad_log_p=grad, n_eval=100, random_state=0
    )
    assert all(np.isfinite(res.loss)) and np.isfinite(res.log_z.log_z)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: RealNVP(n_couplings=2, hidden=4, n_hidden=1, n_bins=None), 3),
        (lambda: NICE(n_couplings=2, hidden=4, n_hidden=1, n_bins=None), 3),
        (lambda: Glow(n_steps=2, hidden=4, n_hidden=1, n_bins=None), 3),
        (lambda: RealNVP(n_couplings=2, hidden=4, n_hidden=1, n_scales=1, n_bins=None), (4, 4, 2)),
        (lambda: Glow(n_steps=1, hidden=4, n_hidden=1, n_scales=1, n_bins=None), (4, 4, 2)),
    ],
    ids=["realnvp", "nice", "glow", "realnvp-image", "glow-image"],
)
def test_sample_and_log_prob_agrees_with_log_prob(make, shape):
    flow = _built(make(), n_features=shape, seed=1, scale=0.2)
    x, log_q = flow.sample_and_log_prob(5, random_state=4)
    want = (5, shape) if isinstance(shape, int) else (5, *shape)
    assert x.shape == want and log_q.shape == (5,)
    np.testing.assert_allclose(log_q.data, flow.log_prob(x.data), rtol=1e-4, atol=1e-4)
    # the same draws as sample(..., return_log_prob=True) with the same seed
    xs, lqs = flow.sample(5, random_state=4, return_log_prob=True)
    np.testing.assert_allclose(x.data, xs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_q.data, lqs, rtol=1e-4, atol=1e-4)


def test_actnorm_is_not_reinitialized_after_reverse_kl():
    g = _built(DiagonalGaussian(n_bins=None, dtype="float64"))
    mean = g.mean_.copy()
    g.score_samples(RING.sample(100, random_state=0))  # a forward pass
    np.testing.assert_array_equal(g.mean_, mean)


def test_importance_weighting_on_a_known_gaussian_pair():
    # q = N(0, 1.5^2), p~ = 3 N(0.5, 1): log Z = log 3; q is wider, so the weights are bounded
    rng = np.random.default_rng(11)
    n = 50_000
    x = 1.5 * rng.standard_normal(n)
    log_q = -0.5 * (x / 1.5) ** 2 - math.log(1.5) - 0.5 * math.log(2 * math.pi)
    log_p = math.log(3) - 0.5 * (x - 0.5) ** 2 - 0.5 * math.log(2 * math.pi)
    est = importance_log_z(log_p, log_q)
    assert abs(est.log_z - math.log(3)) < 3 * est.log_z_stderr
    assert est.elbo < math.log(3)
    # the s.e. scales as 1/sqrt(n): a quarter of the draws, twice the s.e. (to 10%)
    quarter = importance_log_z(log_p[: n // 4], log_q[: n // 4])
    assert quarter.log_z_stderr / est.log_z_stderr == pytest.approx(2.0, rel=0.1)
    assert effective_sample_size(log_p - log_q) == pytest.approx(est.ess)
    assert effective_sample_size(np.zeros(10)) == pytest.approx(10.0)
    assert effective_sample_size([0.0, -np.inf, -np.inf]) == pytest.approx(1.0)


def test_ring_forward_covers_reverse_seeks_and_log_z_is_recovered():
    from minigen.tour_kl import kl_direction

    res = kl_direction("smoke", seed=1, figure=False)
    fwd, rev = res["rows"]
    assert (fwd["direction"], rev["direction"]) == ("forward", "reverse")
    # forward KL spreads q over every mode; reverse KL puts ~99% of it near one mode
    assert fwd["modes_covered"] == 8 and rev["modes_covered"] == 1
    assert min(fwd["mode_mass"]) > 0.005 and max(rev["mode_mass"]) > 0.95
    # each fit wins on its own divergence
    assert fwd["kl_pq"] + 3 * fwd["kl_pq_se"] < rev["kl_pq"]
    assert rev["kl_qp"] + 3 * rev["kl_qp_se"] < fwd["kl_qp"]
    # the MLE Gaussian's forward KL is the closed form (variance r^2/2 + s^2 per axis)
    var = RING.radius**2 / 2 + RING.scale**2
    kl_exact = math.log(2 * math.pi * var) + (RING.radius**2 + 2 * RING.scale**2) / (2 * var)
    assert abs(fwd["kl_pq"] - (kl_exact - res["entropy"])) < 0.02
    # reverse KL on one mode: KL(q||p) ~ log 8
    assert abs(rev["kl_qp"] - math.log(8)) < 0.05
    # importance weighting the covering q recovers log Z within 3 standard errors ...
    assert abs(fwd["log_z"] - res["log_z_exact"]) < 3 * fwd["log_z_se"]
    assert res["log_z_exact"] == pytest.approx(math.log(8 * 2 * math.pi * RING.scale**2))
    # ... the mode-seeking q reports log Z - log 8, one mode's mass, with a tiny stderr
    assert abs(rev["log_z"] - (res["log_z_exact"] - math.log(8))) < 0.05
    assert rev["log_z_se"] < 0.01 and rev["ess"] > 0.9 * rev["n_eval"]
    assert rev["elbo"] <= res["log_z_exact"]


def test_plot_returns_a_figure():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from minigen.tour_kl import kl_direction

    res = kl_direction("smoke", seed=0)
    assert isinstance(res["figure"], Figure) and len(res["figure"].axes) == 2
    from minigen.tour_kl import markdown_table, summary

    assert "figure" not in summary(res) and "models" not in summary(res)
    md = markdown_table(res)
    assert "| Gaussian, reverse KL |" in md and "1/8" in md and "8/8" in md


def test_fit_reverse_kl_lowers_the_loss_to_near_minus_log_z():
    g = DiagonalGaussian(n_bins=None, dtype="float64")
    res = fit_reverse_kl(
        g, LOG_P, 128, n_steps=300, learning_rate=0.05, n_features=2, random_state=5, n_eval=5000
    )
    assert res.loss[0] > 40 and np.mean(res.loss[-20:]) == pytest.approx(
        -LOG_Z + math.log(8), abs=0.05
    )
    assert g.fitted_ and np.all(g.std_ < 0.12)
    # estimate_log_z takes an array-only target too (no gradient needed there)
    a = estimate_log_z(g, RING.log_prob, 2000, random_state=0)
    b = estimate_log_z(g, LOG_P, 2000, random_state=0)
    assert a.log_z == pytest.approx(b.log_z - LOG_Z, abs=1e-9)


def test_divergence_raises_and_keeps_the_last_finite_parameters():
    g = _built(DiagonalGaussian(n_bins=None, dtype="float64"))
    before = {k: v.copy() for k, v in g.trainable_arrays().items()}
    calls = {"n": 0}

    def nan_later(x):
        calls["n"] += 1
        return LOG_P(x) * (np.nan if calls["n"] > 3 else 1.0)

    with pytest.raises(TrainingDiverged, match="step 3"):
        fit_reverse_kl(g, nan_later, 32, n_steps=10, learning_rate=1e-3, random_state=0)
    after = g.trainable_arrays()
    assert all(np.isfinite(v).all() for v in after.values())
    assert any(not np.array_equal(before[k], after[k]) for k in after)  # 3 good steps taken
    snapshot = {k: v.copy() for k, v in after.items()}
    with pytest.raises(TrainingDiverged, match="non-finite"):
        fit_reverse_kl(
            g, LOG_P, 32, n_steps=3, learning_rate=1e308, optimizer="sgd", random_state=0
        )
    for k, v in g.trainable_arrays().items():
        np.testing.assert_array_equal(v, snapshot[k])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_features"):
        fit_reverse_kl(RealNVP(n_bins=None), LOG_P, 8, n_steps=1)
    with pytest.raises(ValueError, match="n_bins"):
        fit_reverse_kl(RealNVP(n_bins=2), LOG_P, 8, n_steps=1, n_features=2)
    with pytest.raises(TypeError, match="grad_log_p"):
        fit_reverse_kl(RealNVP(n_bins=None), RING.log_prob, 8, n_steps=1, n_features=2)
    with pytest.raises(ValueError, match="grad_log_p"):
        fit_reverse_kl(
            RealNVP(n_bins=None), RING.log_prob, 8, n_steps=1, n_features=2, grad_log_p="numerical"
        )
    with pytest.raises(ValueError, match="shape"):
        fit_reverse_kl(RealNVP(n_bins=None), lambda x: LOG_P(x)[:2], 8, n_steps=1, n_features=2)
    with pytest.raises(TypeError, match="sample_and_log_prob"):
        fit_reverse_kl(object(), LOG_P, 8, n_steps=1, n_features=2)
    with pytest.raises(ValueError, match="n_samples"):
        fit_reverse_kl(RealNVP(n_bins=None), LOG_P, 0, n_steps=1, n_features=2)
    with pytest.raises(ValueError, match="at least 2"):
        importance_log_z([0.0], [0.0])
    with pytest.raises(ValueError, match="-inf"):
        importance_log_z([-np.inf, -np.inf], [0.0, 0.0])


def test_forward_kl_matches_the_closed_form_mle():
    X = RING.sample(4000, random_state=3)
    g = DiagonalGaussian(n_bins=None, dtype="float64")
    losses = fit_forward_kl(g, X, n_steps=400, batch_size=512, learning_rate=0.01, random_state=2)
    # Adam at a fixed rate jitters around the MLE by ~ its batch noise (std/sqrt(512))
    np.testing.assert_allclose(g.mean_, X.mean(0), atol=3 * 1.42 / np.sqrt(512))
    np.testing.assert_allclose(g.std_, X.std(0), rtol=0.03)
    assert len(losses) == 400 and np.all(np.isfinite(losses))
