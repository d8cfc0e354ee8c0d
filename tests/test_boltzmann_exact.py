import itertools

import numpy as np
import pytest

from minigen.distributions import boltzmann as bz


def random_bm(n, seed=0, scale=0.5):
    r = np.random.default_rng(seed)
    J = r.normal(0, scale, (n, n))
    J = np.triu(J, 1)
    J = J + J.T
    h = r.normal(0, scale, n)
    return J, h


def brute(J, h):
    n = len(h)
    S = np.array(list(itertools.product([0, 1], repeat=n)), float)[:, ::-1]
    # reversed so row k has unit 0 as least significant bit
    negE = 0.5 * np.einsum("si,ij,sj->s", S, J, S) + S @ h
    m = negE.max()
    logz = m + np.log(np.exp(negE - m).sum())
    return S, negE, logz


def test_state_index_roundtrip():
    S = bz.all_states(5)
    np.testing.assert_array_equal(bz.state_index(S), np.arange(32))


def test_log_partition_and_probs_match_brute_force():
    J, h = random_bm(7, seed=1)
    S, negE, logz = brute(J, h)
    assert np.isclose(bz.log_partition(J, h, chunk_size=13), logz)
    p = bz.exact_probabilities(J, h, chunk_size=13)
    np.testing.assert_allclose(p, np.exp(negE - logz), rtol=1e-12)
    np.testing.assert_allclose(bz.exact_log_likelihood(S, J, h), negE - logz, rtol=1e-12)
    H = -(np.exp(negE - logz) * (negE - logz)).sum()
    assert np.isclose(bz.entropy(J, h, chunk_size=13), H)
    m1, m2 = bz.exact_moments(J, h, chunk_size=13)
    pr = np.exp(negE - logz)
    np.testing.assert_allclose(m1, pr @ S, rtol=1e-10)
    np.testing.assert_allclose(m2, (S * pr[:, None]).T @ S, rtol=1e-10)


def test_large_energies_do_not_overflow():
    J, h = random_bm(6, seed=2, scale=300.0)
    S, negE, _ = brute(J, h)
    m = negE.max()
    assert np.isclose(bz.log_partition(J, h), m + np.log(np.exp(negE - m).sum()))


def test_uniform_entropy():
    n = 10
    assert np.isclose(bz.entropy(np.zeros((n, n)), np.zeros(n)), n * np.log(2))


def test_bad_coupling_errors():
    with pytest.raises(ValueError, match="symmetric"):
        bz.log_partition(np.array([[0, 1.0], [0.0, 0]]), np.zeros(2))
    with pytest.raises(ValueError, match="diagonal"):
        bz.log_partition(np.eye(2), np.zeros(2))
    with pytest.raises(ValueError, match="h must have shape"):
        bz.log_partition(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="n_units"):
        bz.all_states(40)


def test_tv_and_empirical():
    S = np.array([[0, 0], [1, 0], [1, 0], [1, 1]], float)
    q = bz.empirical_distribution(S, 2)
    np.testing.assert_allclose(q, [0.25, 0.5, 0.0, 0.25])
    assert np.isclose(bz.tv_distance(q, np.full(4, 0.25)), 0.25)


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0])
def test_non_binary_rows_are_rejected(bad):
    J, h = random_bm(3, seed=3)
    X = np.array([[0.0, 1.0, 0.0], [1.0, bad, 0.0]])
    with pytest.raises(ValueError, match="X must be binary"):
        bz.exact_log_likelihood(X, J, h)
    with pytest.raises(ValueError, match="X must be binary"):
        bz.state_index(X)
    with pytest.raises(ValueError, match="X must be binary"):
        bz.empirical_distribution(X, 3)


def test_row_width_must_match_units():
    with pytest.raises(ValueError, match=r"X must have shape \(\*, 2\)"):
        bz.empirical_distribution(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match="at most 63 columns"):
        bz.state_index(np.zeros((1, 64)))


@pytest.mark.parametrize("chunk, err", [(0, ValueError), (-5, ValueError), (2.5, TypeError),
                                        (True, TypeError)])
def test_bad_chunk_size(chunk, err):
    J, h = random_bm(4, seed=4)
    calls = [
        lambda: bz.log_partition(J, h, chunk_size=chunk),
        lambda: bz.exact_probabilities(J, h, chunk_size=chunk),
        lambda: bz.exact_moments(J, h, chunk_size=chunk),
        lambda: bz.entropy(J, h, chunk_size=chunk),
        lambda: bz.logsumexp_over_states(lambda S: S.sum(axis=1), 4, chunk_size=chunk),
    ]
    for call in calls:
        with pytest.raises(err, match="chunk_size"):
            call()


def test_empirical_distribution_accepts_nested_lists():
    # rows as plain lists (the checked array, not the raw input, gives the row count)
    q = bz.empirical_distribution([[0, 0], [1, 0], [1, 0], [1, 1]], 2)
    np.testing.assert_allclose(q, [0.25, 0.5, 0.0, 0.25])
