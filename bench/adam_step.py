"""One Adam step on NICE's Fashion-MNIST parameter count (10,283,920 float32), one thread:
Numba's one-pass update compiled with the default ``error_model="python"`` and with
``error_model="numpy"`` (what ``minigen._optim_numba`` uses), minigen's ``Adam.step`` on the
NumPy backend (the ufunc passes), and ``torch.optim.Adam`` (its default implementation).
Medians of 7 steps.

    python bench/adam_step.py
"""

from __future__ import annotations

import os

for _v in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[_v] = "1"

import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

N = 10_283_920


def _median(fn, *args, reps=7):
    fn(*args)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(*args)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    from numba import njit

    from minigen import _optim_numba
    from minigen.backend import use_backend
    from minigen.optim import Adam

    rng = np.random.default_rng(0)
    f = np.float32
    scalars = tuple(f(x) for x in (0.9, 0.1, 0.999, 0.001, 1 / math.sqrt(0.001), 1e-8,
                                   0.1 / 1e-3, 0.0, 1.0))
    py = njit(error_model="python")(_optim_numba.adam_update.py_func)
    rows = {}
    for name, fn in (("numba, error_model=python", py),
                     ("numba, error_model=numpy (minigen)", _optim_numba.adam_update)):
        arrays = [rng.standard_normal(N, dtype=f) for _ in range(2)]
        arrays += [np.zeros(N, f), np.zeros(N, f)]
        rows[name] = _median(fn, *arrays, *scalars)
    params = {"w": rng.standard_normal(N, dtype=f)}
    grads = {"w": rng.standard_normal(N, dtype=f)}
    with use_backend("numpy"):
        opt = Adam(params, lr=1e-3)
        rows["minigen Adam.step, NumPy ufuncs"] = _median(opt.step, grads)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        p = torch.nn.Parameter(torch.randn(N))
        p.grad = torch.randn(N)
        rows["torch.optim.Adam"] = _median(torch.optim.Adam([p], lr=1e-3).step)
    for name, t in rows.items():
        print(f"{name:38s} {t * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
