"""Dispatch a kernel call to the implementation of the active backend.

Layout: every kernel family ``<family>`` (``multinomial``, ``gibbs``, ``langevin``,
``coupling``, ``spline``, ``philox``) has

* ``minigen/kernels/reference/<family>.py``: NumPy, the specification;
* ``minigen/kernels/cpu/<family>.py``: Numba ``@njit(cache=True)`` kernels;
* ``minigen/kernels/gpu/<family>.py``: CuPy wrappers around ``kernels/<family>.cu``;
* ``minigen/kernels/<family>.py``: the public wrapper, which makes O(1) checks and
  calls ``implementation(family, name + "_checked")(...)``: each backend's ``*_checked``
  function returns ``(result, status)``, the status being what its kernel found wrong
  in the values it read (``minigen/kernels/_checks.py``).

Implementation modules are imported on first use, so ``import minigen`` never
pays for Numba or CuPy.
"""

from __future__ import annotations

import importlib

from ..backend import Backend, get_backend

_SUBPACKAGE = {"numpy": "reference", "numba": "cpu", "cupy": "gpu"}


def implementation(family: str, name: str, backend: Backend | None = None):
    """Return function ``name`` of kernel ``family`` for ``backend`` (default: active)."""
    backend = backend or get_backend()
    module = importlib.import_module(f"minigen.kernels.{_SUBPACKAGE[backend.name]}.{family}")
    try:
        return getattr(module, name)
    except AttributeError:
        raise NotImplementedError(
            f"kernel {family}.{name} has no {backend.name!r} implementation"
        ) from None
