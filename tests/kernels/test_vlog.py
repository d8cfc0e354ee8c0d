"""The vectorizable ``log`` / ``log1p`` of the Numba kernels (``cpu/_vlog.py``): a few ulp
of the extended-precision NumPy log over the whole positive finite range, subnormals
included, and exact at 1."""

import numpy as np
import pytest

pytest.importorskip("numba")

from minigen.kernels.cpu._vlog import vlog1p_array, vlog_array  # noqa: E402


def _ulps(got, want, dtype):
    want = np.asarray(want, np.longdouble)
    unit = np.maximum(np.spacing(np.abs(want).astype(dtype)).astype(np.longdouble),
                      np.longdouble(np.finfo(dtype).smallest_subnormal))
    return np.abs(got.astype(np.longdouble) - want) / unit


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vlog_accuracy(dtype):
    fi = np.finfo(dtype)
    rng = np.random.default_rng(0)
    x = np.concatenate([
        10 ** rng.uniform(np.log10(fi.tiny), np.log10(fi.max), 100_000),
        rng.uniform(0.5, 2.0, 100_000),  # around 1, where log is smallest
        10 ** rng.uniform(np.log10(fi.smallest_subnormal), np.log10(fi.tiny), 1000),
        [fi.smallest_subnormal, fi.tiny, 0.5, 2.0, fi.max, 1 - fi.epsneg, 1 + fi.eps],
    ]).astype(dtype)
    got = vlog_array(x)
    assert got.dtype == dtype
    assert _ulps(got, np.log(x.astype(np.longdouble)), dtype).max() <= 2
    assert vlog_array(np.ones(3, dtype))[0] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vlog1p_accuracy(dtype):
    fi = np.finfo(dtype)
    rng = np.random.default_rng(1)
    x = np.concatenate([10 ** rng.uniform(np.log10(fi.tiny), 1, 100_000),
                        [0.0, fi.tiny, fi.eps, fi.epsneg, 1.0]]).astype(dtype)
    got = vlog1p_array(x)
    assert _ulps(got, np.log1p(x.astype(np.longdouble)), dtype).max() <= 3
    assert vlog1p_array(np.zeros(2, dtype))[0] == 0
