import numpy as np
import pytest

from minigen.mcmc import effective_sample_size, mcse_mean, split_rhat


def ar1(rho, m, n, seed):
    r = np.random.default_rng(seed)
    x = np.empty((m, n))
    x[:, 0] = r.normal(size=m) / np.sqrt(1 - rho**2)
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + r.normal(size=m)
    return x


def test_iid_ess_close_to_n():
    x = np.random.default_rng(0).normal(size=(4, 5000))
    ess = effective_sample_size(x)
    assert 0.85 * 20000 < ess < 1.15 * 20000
    # iid N(0,1): m = 8 split chains of n = 2500. R^2 = (n-1)/n + F/n with F = B/W ~
    # F(m-1, m(n-1)) ~ chi2(m-1)/(m-1); so R - 1 lies in (-1/(2n), (F_hi - 1)/(2n)) with F_hi
    # the 1e-6 upper quantile (Wilson-Hilferty, z = 4.75: conservative for small dof).
    m, n, z = 8, 2500, 4.75
    dof = m - 1
    f_hi = (1 - 2 / (9 * dof) + z * np.sqrt(2 / (9 * dof))) ** 3  # chi2_dof quantile / dof
    r = split_rhat(x)
    assert np.sqrt((n - 1) / n) < r < np.sqrt((n - 1) / n + f_hi / n), r  # ~(0.9998, 1.0011)


def test_ar1_ess_matches_theory():
    rho = 0.9
    x = ar1(rho, 8, 20000, 1)
    theory = x.size * (1 - rho) / (1 + rho)
    assert 0.8 * theory < effective_sample_size(x) < 1.2 * theory
    se = mcse_mean(x)
    assert np.isclose(se, x.std() / np.sqrt(effective_sample_size(x)))


def test_rhat_detects_unmixed_chains():
    x = np.random.default_rng(2).normal(size=(4, 1000))
    x[0] += 3.0
    assert split_rhat(x) > 1.1
    # a drifting chain (non-stationary) is caught by the split
    y = np.random.default_rng(3).normal(size=(2, 1000)) + np.linspace(0, 5, 1000)
    assert split_rhat(y) > 1.1


def test_multidim_and_errors():
    x = np.random.default_rng(4).normal(size=(3, 500, 2))
    assert effective_sample_size(x).shape == (2,)
    assert split_rhat(x).shape == (2,)
    with pytest.raises(ValueError, match="draws"):
        effective_sample_size(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        split_rhat(np.full((2, 10), np.nan))
