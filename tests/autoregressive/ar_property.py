"""Reusable autoregressive-property check (import it from any AR model's tests).

``check_autoregressive(fn, h, ordering)``: ``fn`` maps a float Tensor ``h (n, D, C)`` to
outputs ``(n, D)`` or ``(n, D, ...)`` in the natural position layout. For every output
position ``i`` we back-propagate a random projection of ``fn(h)[:, i]`` and require

* ``d out_i / d h_j == 0`` EXACTLY for every ``j`` with ``rank(j) >= rank(i)`` (``j`` at or
  after ``i`` in the ordering; this catches mask and blind-spot bugs), and
* ``d out_i / d h_j != 0`` for some ``j`` with ``rank(j) < rank(i)`` (unless ``i`` is first).

``check_autoregressive_model(model)`` applies it to a built
:class:`minigen.models.autoregressive.base.AutoregressiveModel` (through ``model._encode``
and ``model._logits``) at random inputs from the model's alphabet.

Example (AR-2)::

    from .ar_property import check_autoregressive_model
    def test_pixelcnn_is_autoregressive():
        m = PixelCNN(...); m.build_parameters((4, 4), np.random.default_rng(0)); ...
        check_autoregressive_model(m)
"""

from __future__ import annotations

import numpy as np

from minigen.autograd import F, Tensor
from minigen.backend import get_backend, to_numpy

__all__ = ["dependency_matrix", "check_autoregressive", "check_autoregressive_model"]


def dependency_matrix(fn, h, positions=None, seed=0) -> np.ndarray:
    """``J[i, j] = sum |d (r . out_i) / d h_j|`` over batch and channels, shape (len(pos), D)."""
    h = get_backend().asarray(h)
    d = h.shape[1]
    positions = range(d) if positions is None else positions
    rng = np.random.default_rng(seed)
    rows = []
    for i in positions:
        ht = Tensor(h, requires_grad=True)
        out = fn(ht)
        oi = out[:, i]
        r = get_backend().asarray(rng.standard_normal(oi.shape).astype(oi.data.dtype))
        F.sum(oi * r).backward()
        g = np.abs(to_numpy(ht.grad)).reshape(h.shape[0], d, -1).sum(axis=(0, 2))
        rows.append(g)
    return np.stack(rows)


def check_autoregressive(fn, h, ordering, positions=None, seed=0) -> np.ndarray:
    """Assert the autoregressive property of ``fn`` at input ``h`` (see module docstring)."""
    ordering = np.asarray(ordering)
    d = ordering.size
    rank = np.empty(d, dtype=np.int64)
    rank[ordering] = np.arange(d)
    positions = list(range(d)) if positions is None else list(positions)
    J = dependency_matrix(fn, h, positions, seed)
    for row, i in zip(J, positions, strict=True):
        later = rank >= rank[i]
        bad = np.flatnonzero(later & (row != 0))
        assert bad.size == 0, (
            f"output {i} (step {rank[i]}) depends on inputs {bad.tolist()} at or after it "
            f"in the ordering (steps {rank[bad].tolist()})"
        )
        if rank[i] > 0:
            assert (row[~later] != 0).any(), (
                f"output {i} (step {rank[i]}) depends on no earlier input"
            )
    return J


def check_autoregressive_model(model, n=16, seed=0, positions=None) -> np.ndarray:
    """:func:`check_autoregressive` on a built AR model at ``n`` random alphabet inputs."""
    rng = np.random.default_rng(seed)
    x = get_backend().asarray(rng.integers(0, model.n_categories_, size=(n, model.n_dims_)))
    h = model._encode(x)
    return check_autoregressive(model._logits, h, model.ordering_, positions, seed)


def numpy_backend_fixture():
    """Module fixture body: run a test module on the NumPy backend with one BLAS thread.

    Small-matrix training on an oversubscribed 2-core machine: multi-threaded OpenBLAS
    (and Numba's parallel optimizer update) spin-wait and run 10-20x slower than one
    thread, so AR training tests pin NumPy and limit BLAS to one thread (threadpoolctl,
    when installed). Usage::

        _np = pytest.fixture(autouse=True, scope="module")(numpy_backend_fixture)
    """
    import contextlib

    import minigen

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=1, user_api="blas")
    with limits, minigen.use_backend("numpy"):
        yield
