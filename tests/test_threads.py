"""The CPU threading policy (minigen/_threads.py): decided once, on entry, and the same
results under every policy."""

import numpy as np
import pytest

import minigen._threads as threads
from minigen._threads import ThreadPolicy, cpu_policy, current_policy


def test_busy_cores_give_serial_blas_and_no_copy_threads(monkeypatch):
    monkeypatch.setattr(threads, "_cpus_busy", lambda: True)
    assert ThreadPolicy.for_this_machine() == ThreadPolicy(serial_blas=True, copy_threads=1)
    monkeypatch.setattr(threads, "_cpus_busy", lambda: False)
    free = ThreadPolicy.for_this_machine()
    assert not free.serial_blas and free.copy_threads == max(1, min(4, threads.usable_cpus()))


def test_the_machine_is_looked_at_once_per_outer_block(monkeypatch):
    calls = []

    def busy():
        calls.append(1)
        return True

    monkeypatch.setattr(threads, "_cpus_busy", busy)
    with cpu_policy() as outer:
        with cpu_policy() as inner:  # nested: the outer decision stands
            assert inner is outer is current_policy()
        with cpu_policy(ThreadPolicy()):  # even an explicit one
            assert current_policy() is outer
    assert len(calls) == 1
    assert current_policy() is threads._DEFAULT


def test_training_runs_under_one_policy(monkeypatch):
    from minigen.models import MADE

    seen = []
    monkeypatch.setattr(threads, "_cpus_busy", lambda: seen.append(1) or True)
    X = (np.random.default_rng(3).random((64, 6)) < 0.4).astype(np.int64)
    MADE(hidden_sizes=(8,), max_epochs=3, batch_size=16, random_state=3).fit(X)
    assert len(seen) == 1


def test_results_are_the_same_under_both_policies(monkeypatch):
    from minigen.models import PixelCNN

    X = (np.random.default_rng(5).random((32, 6, 6, 1)) < 0.5).astype(np.int64)
    out = []
    for busy in (True, False):
        monkeypatch.setattr(threads, "_cpus_busy", lambda b=busy: b)
        m = PixelCNN(n_channels=8, n_layers=2, max_epochs=1, batch_size=16,
                     random_state=5).fit(X)
        out.append((m.score_samples(X), m.sample(4, random_state=1)))
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5)


@pytest.mark.parametrize("policy", [ThreadPolicy(True, 1), ThreadPolicy(False, 4)])
def test_conv_copies_follow_the_policy(policy):
    from minigen.autograd.conv import _split_channels

    seen = []
    with cpu_policy(policy):
        _split_channels(np, 8, 1 << 20, lambda lo, hi: seen.append((lo, hi)))
    n = min(policy.copy_threads, threads.usable_cpus(), 4)
    assert len(seen) == max(1, n) and sorted(seen)[0][0] == 0 and sorted(seen)[-1][1] == 8
