import numpy as np
import pytest

from minigen import mcmc
from minigen.distributions import boltzmann as bz

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

COV = np.array([[1.0, 0.8], [0.8, 1.0]])
PREC = np.linalg.inv(COV)
MU = np.array([1.0, -2.0])


def energy(x):
    r = x - MU
    return 0.5 * np.einsum("ni,ij,nj->n", r, PREC, r)


def grad(x):
    return (x - MU) @ PREC


def hess(x):
    return np.broadcast_to(PREC, (x.shape[0], 2, 2))


def x0(n=64, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2)) * 2


def check_gaussian(res, k=3.0, rhat_tol=1.01):
    s = res.samples
    assert np.isfinite(s).all()
    rhat = mcmc.split_rhat(s)
    assert (rhat < rhat_tol).all(), rhat
    flat = res.flat()
    mean = flat.mean(axis=0)
    se = mcmc.mcse_mean(s)
    assert (np.abs(mean - MU) <= k * se).all(), (mean, se)
    # covariance entries: each is the mean of a product, with its own ESS
    c = s - MU
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        prod = c[..., i] * c[..., j]
        se_ij = float(mcmc.mcse_mean(prod))
        assert abs(prod.mean() - COV[i, j]) <= k * se_ij, (i, j, prod.mean(), se_ij)


def test_metropolis_gaussian():
    res = mcmc.random_walk_metropolis(energy, x0(), 3000, step_size=1.0, burn_in=300,
                                      random_state=1)
    assert 0.2 < res.acceptance_rate.mean() < 0.7
    check_gaussian(res)


def test_ula_small_step_gaussian():
    res = mcmc.ula(grad, x0(16), 4000, step_size=0.03, burn_in=1500, thin=10, random_state=2)
    assert (res.acceptance_rate == 1).all()
    check_gaussian(res)


def test_mala_gaussian():
    res = mcmc.mala(energy, grad, x0(), 2000, step_size=0.3, burn_in=500, thin=2,
                    random_state=3)
    assert 0.5 < res.acceptance_rate.mean() < 1.0
    check_gaussian(res)


def test_preconditioned_langevin_gaussian():
    res = mcmc.preconditioned_langevin(energy, grad, hess, x0(), 1500, step_size=1.0,
                                       burn_in=100, random_state=4)
    # exact preconditioning: acceptance near 1 even with a large step
    assert res.acceptance_rate.mean() > 0.8
    check_gaussian(res)
    # a constant Hessian array gives the same chain as the callable
    kw = dict(step_size=1.0, burn_in=0, random_state=4)
    a = mcmc.preconditioned_langevin(energy, grad, PREC, x0(), 50, **kw)
    b = mcmc.preconditioned_langevin(energy, grad, hess, x0(), 50, **kw)
    np.testing.assert_allclose(a.samples, b.samples)


def test_hmc_gaussian():
    res = mcmc.hmc(energy, grad, x0(), 1000, step_size=0.25, n_leapfrog=8, burn_in=100,
                   random_state=5)
    assert res.acceptance_rate.mean() > 0.8
    check_gaussian(res)


def test_indefinite_hessian_is_clipped():
    H = np.array([[[1.0, 0.0], [0.0, -2.0]]])
    from minigen.mcmc.transitions import clipped_inverse

    A, A_half, A_inv, logdet = clipped_inverse(H, 0.1)
    np.testing.assert_allclose(A[0], np.diag([1.0, 10.0]))
    np.testing.assert_allclose(A_half[0] @ A_half[0], A[0])


def test_nonfinite_gradient_raises():
    def bad_grad(x):
        g = grad(x)
        g[0, 0] = np.nan
        return g

    with pytest.raises(FloatingPointError, match="non-finite energy gradient"):
        mcmc.mala(energy, bad_grad, x0(), 10, random_state=0)
    with pytest.raises(FloatingPointError, match="gradient"):
        mcmc.hmc(energy, bad_grad, x0(), 10, random_state=0)
    with pytest.raises(FloatingPointError):
        mcmc.ula(lambda x: x * 1e300 * 1e300, x0(), 10, random_state=0)


def test_exploding_step_raises_not_nan():
    with pytest.raises(FloatingPointError):
        mcmc.ula(lambda x: 1e3 * x ** 3, x0(), 200, step_size=1.0, burn_in=0, random_state=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="step_size"):
        mcmc.mala(energy, grad, x0(), 10, step_size=-1.0)
    with pytest.raises(ValueError, match="method"):
        mcmc.langevin(energy, grad, x0(), 10, method="foo")
    with pytest.raises(ValueError, match="hessian"):
        mcmc.langevin(energy, grad, x0(), 10, method="precond")
    with pytest.raises(ValueError, match="x0"):
        mcmc.hmc(energy, grad, np.zeros((2, 2, 2)), 10)
    with pytest.raises(ValueError, match="n_samples"):
        mcmc.hmc(energy, grad, x0(), 0)


def test_thinning_and_reproducibility():
    a = mcmc.mala(energy, grad, x0(8), 20, thin=3, burn_in=5, random_state=9)
    b = mcmc.mala(energy, grad, x0(8), 20, thin=3, burn_in=5, random_state=9)
    assert a.samples.shape == (8, 20, 2)
    np.testing.assert_array_equal(a.samples, b.samples)


def random_bm(n, seed=0):
    r = np.random.default_rng(seed)
    J = np.triu(r.normal(0, 1.2, (n, n)), 1)
    return J + J.T, r.normal(0, 1.2, n)


@pytest.mark.parametrize("method", ["single-site", "block"])
def test_gibbs_bm_matches_exact_distribution(method):
    J, h = random_bm(10, seed=0)
    p = bz.exact_probabilities(J, h)
    # 10^5 samples: 1000 chains x 100 draws, thinned by 3 sweeps
    res = mcmc.gibbs_boltzmann(J, h, 100, n_chains=1000, method=method, block_size=3,
                               burn_in=50, thin=3, random_state=7)
    q = bz.empirical_distribution(res.flat(), 10)
    tv = bz.tv_distance(p, q)
    # Autocorrelation: n_eff = min(n, ESS of every spin and of the energy) (~0.96 n here);
    # assumption: the state indicators mix no slower than these statistics.
    s = res.samples
    n_eff = min(s.shape[0] * s.shape[1], float(mcmc.effective_sample_size(s).min()),
                float(mcmc.effective_sample_size(0.5 * np.einsum("...i,ij,...j->...", s, J, s)
                                                 + s @ h)))
    # TV bound for n_eff independent draws: E[TV] <= 0.5 sum_x sqrt(p(1-p)/n_eff) (Jensen;
    # ~0.0157), and TV has bounded differences 1/n_eff, so McDiarmid gives
    # P(TV > E[TV] + t) <= exp(-2 n_eff t^2) = 1e-6 at t = sqrt(ln(1e6) / (2 n_eff)) (~0.0085).
    bound = 0.5 * np.sqrt(p * (1 - p) / n_eff).sum() + np.sqrt(np.log(1e6) / (2 * n_eff))
    assert tv <= bound, (tv, bound)
    # sanity: the test can fail - a wrong target is detected
    assert bz.tv_distance(bz.exact_probabilities(J, 0 * h), q) > bound


def test_gibbs_bad_method():
    J, h = random_bm(3)
    with pytest.raises(ValueError, match="method"):
        mcmc.gibbs_boltzmann(J, h, 5, method="x")


def _samplers(e, g, x):
    """Every energy-based sampler on energy ``e`` and gradient ``g`` from ``x``."""
    kw = dict(burn_in=0, random_state=0)
    return {
        "metropolis": lambda: mcmc.random_walk_metropolis(e, x, 5, **kw),
        "mala": lambda: mcmc.mala(e, g, x, 5, **kw),
        "precond": lambda: mcmc.preconditioned_langevin(e, g, hess, x, 5, **kw),
        "hmc": lambda: mcmc.hmc(e, g, x, 5, **kw),
    }


@pytest.mark.parametrize("name", ["metropolis", "mala", "precond", "hmc"])
def test_energy_output_shape_is_checked(name):
    # a scalar energy (the sum over chains) used to broadcast into wrong samples
    def scalar_energy(x):
        return energy(x).sum()

    def column_energy(x):
        return energy(x)[:, None]

    for bad in (scalar_energy, column_energy):
        with pytest.raises(ValueError, match=r"energy\(x\) must return .*shape \(64,\)"):
            _samplers(bad, grad, x0())[name]()


@pytest.mark.parametrize("name", ["mala", "precond", "hmc", "ula"])
def test_grad_output_shape_is_checked(name):
    def bad_grad(x):
        return grad(x).sum(axis=1)  # (n,) instead of (n, D)

    run = {"ula": lambda: mcmc.ula(bad_grad, x0(), 5, random_state=0),
           **_samplers(energy, bad_grad, x0())}[name]
    with pytest.raises(ValueError, match=r"grad\(x\) must return .*shape \(64, 2\)"):
        run()


def test_hessian_output_shape_is_checked():
    with pytest.raises(ValueError, match=r"hessian\(x\) must return .*shape \(64, 2, 2\)"):
        mcmc.preconditioned_langevin(energy, grad, lambda x: PREC, x0(), 5, random_state=0)
    with pytest.raises(ValueError, match=r"hessian must have shape \(2, 2\)"):
        mcmc.preconditioned_langevin(energy, grad, np.eye(3), x0(), 5, random_state=0)


@pytest.mark.parametrize("name", ["metropolis", "mala", "precond", "hmc"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_initial_energy_raises(name, value):
    # a NaN start used to freeze the chains silently (every proposal rejected)
    def e(x):
        out = energy(x)
        if x.shape[0] == 64 and np.array_equal(x, x0()):
            out[3] = value
        return out

    with pytest.raises(ValueError, match="energy\\(x0\\) must be finite.*chain 3"):
        _samplers(e, grad, x0())[name]()


@pytest.mark.parametrize("name", ["metropolis", "mala", "hmc"])
def test_infinite_energy_proposals_are_rejected(name):
    # +inf (and NaN, -inf) energy = zero density: such proposals are rejected, never kept
    def walled(x):
        out = energy(x)
        out[x[:, 0] > 1.2] = np.inf
        out[x[:, 0] < 0.8] = -np.inf if name == "metropolis" else np.nan
        return out

    x = np.tile([[1.0, -2.0]], (16, 1))
    res = _samplers(walled, grad, x)[name]()
    assert np.isfinite(res.samples).all()
    assert (res.samples[..., 0] <= 1.2).all() and (res.samples[..., 0] >= 0.8).all()
    assert res.acceptance_rate.mean() > 0  # the chains do move inside the walls
