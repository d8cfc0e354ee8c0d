"""The backend switch: ``numpy`` | ``numba`` | ``cupy``.

A *backend* decides two things:

* which array module (``xp``) holds model state: NumPy for ``numpy`` and
  ``numba``, CuPy for ``cupy``;
* which implementation the kernels in :mod:`minigen.kernels` dispatch to:
  the NumPy reference, the Numba CPU kernels, or the CUDA kernels.

The active backend lives in a :class:`contextvars.ContextVar`, so
:func:`use_backend` nests and is safe across threads and asyncio tasks.
Resolution order: the innermost :func:`use_backend`, then :func:`set_backend`,
then the ``MINIGEN_BACKEND`` environment variable, then ``"auto"``.

``"auto"`` picks ``numba`` when it imports, else ``numpy``; it never silently
picks the GPU. Optional packages are imported lazily and the reason a backend
is unavailable is remembered and raised when it is asked for (in the style of
Chainer's CUDA backend), never replaced by a silent fallback.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BACKEND_NAMES = ("numpy", "numba", "cupy")
_VALID_CHOICES = BACKEND_NAMES + ("auto",)

INSTALL_HINTS = {
    "numpy": "",
    "numba": "pip install 'minigen[numba]'",
    "cupy": "pip install 'minigen[gpu]' (CUDA 12) or 'minigen[gpu-cuda13]' (CUDA 13)",
}


@dataclass
class Backend:
    """One backend: its array module and its availability.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"numba"`` or ``"cupy"``.
    xp : module
        ``numpy`` or ``cupy``: the array namespace model code is written against.
    available : bool
        Whether the backend can be used on this machine.
    reason : str
        Why it is unavailable (empty when available), with an install hint.
    """

    name: str
    xp: Any = None
    available: bool = False
    reason: str = ""
    version: str = ""
    details: dict = field(default_factory=dict)

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, x, dtype=None):
        """Return ``x`` as an array of this backend (copying host<->device if needed)."""
        if self.is_gpu:
            return self.xp.asarray(x, dtype=dtype)
        if _is_cupy_array(x):
            x = x.get()
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x) -> np.ndarray:
        """Return ``x`` as a NumPy array on the host."""
        return to_numpy(x)

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the CPU backends)."""
        if self.is_gpu:
            self.xp.cuda.Stream.null.synchronize()


_probed: dict[str, Backend] = {}


def probe(name: str) -> Backend:
    """Backend ``name`` whether or not it can be used (``available``, ``reason``): imports
    what it needs once and remembers the outcome; never raises for a missing library."""
    if name in _probed:
        return _probed[name]
    b = Backend(name)
    if name == "numpy":
        b.xp, b.available, b.version = np, True, np.__version__
    elif name == "numba":
        # Idle OpenMP workers spin by default; on a shared or oversubscribed machine the
        # spinner starves the thread it waits for, and each prange launch then costs
        # milliseconds (8-16 ms vs 3 us with PASSIVE on the 2-core CI box). A user's value wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            numba = importlib.import_module("numba")
            b.xp, b.available, b.version = np, True, numba.__version__
            b.details["threads"] = numba.config.NUMBA_NUM_THREADS
        except Exception as exc:  # ImportError, or a broken llvmlite
            b.reason = f"numba: not installed or failed to import ({exc}); {INSTALL_HINTS['numba']}"
    elif name == "cupy":
        try:
            cupy = importlib.import_module("cupy")
        except Exception as exc:
            b.reason = f"cupy: not installed or failed to import ({exc}); {INSTALL_HINTS['cupy']}"
        else:
            try:
                n = cupy.cuda.runtime.getDeviceCount()
            except Exception as exc:
                n, b.reason = 0, f"cupy: no CUDA device found ({exc})"
            if n > 0:
                b.xp, b.available, b.version = cupy, True, cupy.__version__
                props = cupy.cuda.runtime.getDeviceProperties(0)
                b.details["device"] = props["name"].decode(errors="replace")
            elif not b.reason:
                b.reason = "cupy: no CUDA device found"
    _probed[name] = b
    return b


def _is_cupy_array(x) -> bool:
    # Checked by module name so that cupy is never imported just to ask.
    return type(x).__module__.split(".")[0] == "cupy"


def to_numpy(x) -> np.ndarray:
    """Return ``x`` (NumPy, CuPy or array-like) as a host NumPy array."""
    if _is_cupy_array(x):
        return x.get()
    return np.asarray(x)


# --------------------------------------------------------------------------- selection

_selected: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "minigen_backend", default=None
)
_global_choice: str | None = None


def _check_name(name: str, source: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in _VALID_CHOICES:
        raise ValueError(
            f"unknown backend {name!r} (from {source}); valid names are "
            + ", ".join(repr(n) for n in _VALID_CHOICES)
        )
    return name.strip().lower()


def _resolve(name: str) -> Backend:
    if name == "auto":
        numba_backend = probe("numba")
        return numba_backend if numba_backend.available else probe("numpy")
    b = probe(name)
    if not b.available:
        raise RuntimeError(f"backend {name!r} is unavailable: {b.reason}")
    return b


def get_backend() -> Backend:
    """Return the active :class:`Backend`.

    Raises
    ------
    ValueError
        If the requested name (e.g. from ``MINIGEN_BACKEND``) is unknown.
    RuntimeError
        If the requested backend is not available here, with the reason.
    """
    name = _selected.get()
    if name is None:
        name = _global_choice
    if name is None:
        name = _check_name(os.environ.get("MINIGEN_BACKEND", "auto"), "MINIGEN_BACKEND")
    return _resolve(name)


def set_backend(name: str) -> Backend:
    """Select the backend for this process: ``"numpy"``, ``"numba"``, ``"cupy"`` or ``"auto"``.

    Returns the resolved :class:`Backend`. Raises ``ValueError`` for an unknown name
    and ``RuntimeError`` (with the reason and install hint) for an unavailable one.
    """
    global _global_choice
    name = _check_name(name, "set_backend")
    backend = _resolve(name)
    _global_choice = name
    return backend


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Context manager selecting a backend inside a ``with`` block; nests."""
    name = _check_name(name, "use_backend")
    backend = _resolve(name)
    token = _selected.set(name)
    try:
        yield backend
    finally:
        _selected.reset(token)


def backend_info() -> list[dict]:
    """Describe every backend: name, available, reason, version, details, active."""
    try:
        active = get_backend().name
    except (ValueError, RuntimeError):
        active = None
    rows = []
    for name in BACKEND_NAMES:
        b = probe(name)
        rows.append(
            {
                "name": name,
                "available": b.available,
                "reason": b.reason,
                "version": b.version,
                "details": dict(b.details),
                "active": name == active,
            }
        )
    return rows


def xp_of(*arrays) -> Any:
    """Array module shared by ``arrays``; a clear error when NumPy and CuPy are mixed.

    Non-array arguments (Python scalars, ``None``) are ignored. With no arrays the
    active backend's ``xp`` is returned.
    """
    kinds = set()
    for a in arrays:
        if a is None or isinstance(a, (int, float, bool, np.generic)):
            continue
        kinds.add("cupy" if _is_cupy_array(a) else "numpy")
    if len(kinds) > 1:
        raise TypeError(
            "inputs mix NumPy (host) and CuPy (device) arrays; move them to one "
            "backend first with minigen.get_backend().asarray(x) or minigen.to_numpy(x)"
        )
    if kinds == {"cupy"}:
        return importlib.import_module("cupy")
    if kinds == {"numpy"}:
        return np
    return get_backend().xp


def check_on_backend(x, name: str = "x", backend: Backend | None = None):
    """Raise ``TypeError`` if array ``x`` does not live where ``backend`` keeps arrays."""
    backend = backend or get_backend()
    on_gpu = _is_cupy_array(x)
    if on_gpu != backend.is_gpu:
        where = "a CuPy (device)" if on_gpu else "a NumPy (host)"
        raise TypeError(
            f"{name} is {where} array but the active backend is {backend.name!r}; "
            "convert it with get_backend().asarray(...) first"
        )
    return x
