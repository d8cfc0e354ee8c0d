"""Input checks used at every public boundary.

Each helper names the offending argument in its error, so that bad input fails
where the user passed it instead of deep inside a kernel or a model. They work
on NumPy and CuPy arrays alike (reductions are pulled to the host as scalars).
"""

from __future__ import annotations

import numbers

import numpy as np

from .backend import xp_of


class NonFiniteError(ValueError):
    """An array holds NaN or inf where finite numbers are needed. Raised inside a training
    step (a kernel fed an overflowed activation), it means the run diverged:
    :func:`minigen.training.train` turns it into ``TrainingDiverged``."""


class ComplexDataError(TypeError, ValueError):
    """Complex input where real numbers are needed: a ``TypeError`` (the wrong kind of
    number) that scikit-learn's code, which expects a ``ValueError``, also catches."""


def _shape_str(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_array(
    x,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype=None,
    finite: bool = True,
    allow_empty: bool = True,
    shape: tuple | None = None,
):
    """Return ``x`` as an array of the backend it lives on, after checks.

    Parameters
    ----------
    x : array-like
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Allowed number(s) of dimensions.
    dtype : dtype, optional
        If given, ``x`` is converted to it (a float dtype rejects complex and object input).
    finite : bool
        Reject NaN and +/-inf.
    shape : tuple, optional
        Required shape; ``None`` entries match any size.
    """
    if hasattr(x, "nnz") and hasattr(x, "toarray"):  # scipy.sparse, without importing scipy
        raise TypeError(
            f"{name} is a sparse matrix; minigen's models need dense arrays: pass "
            f"{name}.toarray() if it fits in memory"
        )
    if hasattr(x, "dtypes") and hasattr(x, "to_numpy"):  # a pandas DataFrame / Series
        x = _frame_to_numpy(x, name)
    xp = xp_of(x)
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        x = np.asarray(x)
    if getattr(x, "dtype", None) is not None and x.dtype == object:
        # numbers held as Python objects (a list of mixed ints and floats, a pandas column
        # of object dtype) are numbers: convert them; anything else is refused
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a numeric array; its dtype object elements "
                            f"could not be converted: {exc}") from None
    try:
        x = xp.asarray(x, dtype=dtype) if dtype is not None else xp.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from None
    if x.dtype.kind == "c":
        raise ComplexDataError(f"{name} must be a real numeric array, got dtype {x.dtype}: "
                               "Complex data not supported (pass its real part or modulus)")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            hint = (" (Reshape your data either using X.reshape(-1, 1) if it has a single "
                    "feature or X.reshape(1, -1) if it contains a single sample)"
                    if x.ndim == 1 and 2 in allowed else "")
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s), "
                f"got shape {_shape_str(x.shape)}{hint}"
            )
    if shape is not None:
        ok = len(shape) == x.ndim and all(
            s is None or s == t for s, t in zip(shape, x.shape, strict=True))
        if not ok:
            want = _shape_str(tuple("*" if s is None else s for s in shape))
            raise ValueError(f"{name} must have shape {want}, got {_shape_str(x.shape)}")
    if not allow_empty and x.size == 0:
        what = "sample" if x.ndim == 0 or x.shape[0] == 0 else "feature"
        raise ValueError(f"{name} must not be empty: found 0 {what}(s) (shape="
                         f"{_shape_str(x.shape)}) while a minimum of 1 is required.")
    if finite and x.dtype.kind == "f" and x.size and not bool(xp.isfinite(x).all()):
        raise NonFiniteError(f"{name} contains NaN or infinite values")
    return x


def flatten_rows(X):
    """(n, ...) -> (n, prod(...)): images become rows. Explicit sizes so that n = 0 works
    (``reshape(0, -1)`` is ambiguous and raises)."""
    return X.reshape(X.shape[0], int(np.prod(X.shape[1:], dtype=np.int64)))


def _frame_to_numpy(df, name: str):
    """A pandas frame of numeric columns as one array of their common dtype (mixed int
    and float columns would otherwise become dtype object)."""
    dtypes = [df.dtypes] if not hasattr(df.dtypes, "__iter__") else list(df.dtypes)
    bad = [str(d) for d in dtypes if getattr(d, "kind", "O") not in "biuf"]
    if bad:
        raise TypeError(f"{name} has non-numeric columns (dtypes {sorted(set(bad))}); "
                        "select or encode the numeric columns first")
    common = np.result_type(*[np.dtype(getattr(d, "numpy_dtype", d)) for d in dtypes])
    return df.to_numpy(dtype=common)


def check_probabilities(p, name: str = "probs", *, axis: int = -1, atol: float | None = None):
    """Check that ``p`` holds probability vectors along ``axis`` (>= 0, summing to 1).

    The default tolerance on the sums is 1e-4 in float32 and 1e-8 otherwise.
    """
    p = check_array(p, name)
    xp = xp_of(p)
    if p.size and bool((p < 0).any()):
        raise ValueError(f"{name} has negative entries")
    if atol is None:
        atol = 1e-4 if p.dtype == np.float32 else 1e-8
    if p.size and not bool(xp.allclose(p.sum(axis=axis), 1.0, rtol=0.0, atol=atol)):
        raise ValueError(f"{name} rows must sum to 1 along axis {axis}")
    return p


def check_weights(w, name: str = "weights"):
    """Check non-negative, finite weights with a positive sum on every row (last axis)."""
    w = check_array(w, name)
    if w.size and bool((w < 0).any()):
        raise ValueError(f"{name} has negative entries")
    if w.ndim and w.shape[-1] == 0:
        raise ValueError(f"{name} has no categories (last axis has size 0)")
    if w.size and bool((w.sum(axis=-1) <= 0).any()):
        raise ValueError(f"{name} has a row that sums to zero")
    return w


def check_binary(x, name: str = "X"):
    """Check that ``x`` holds only 0 and 1."""
    x = check_array(x, name)
    bad = (x != 0) & (x != 1)
    if x.size and bool(bad.any()):
        raise ValueError(f"{name} must be binary (only 0 and 1), found {float(x[bad][0]):g}")
    return x


# Inferring K = max(X) + 1 sizes tables/weights by the largest value, so one stray value
# (an ID, a pixel sum, 1e12) would otherwise die with a MemoryError deep inside a model.
MAX_INFERRED_CATEGORIES = 65536


def infer_n_categories(x, name: str = "X", *, limit: int = MAX_INFERRED_CATEGORIES) -> int:
    """``K = max(2, max(x) + 1)`` for integer levels ``x >= 0``, refusing ``K > limit``.

    The error points the user to the explicit ``n_categories`` argument.
    """
    x = check_array(x, name)
    xp = xp_of(x)
    if x.size == 0:
        return 2
    if bool((x < 0).any()) or (x.dtype.kind == "f" and bool((x != xp.round(x)).any())):
        bad = x[(x < 0) | (x != xp.round(x))].ravel()[0]
        raise ValueError(
            f"{name} must hold integer levels 0, 1, 2, ... (categories); found {float(bad):g}")
    top = float(x.max())  # compare as float: an int64 cast of 1e30 would wrap around
    if top + 1 > limit:
        raise ValueError(
            f"{name} has maximum value {top:g}, so the inferred n_categories (max + 1) "
            f"would exceed the limit of {limit}; pass n_categories explicitly if that many "
            f"levels are intended, otherwise check {name} (levels must be integers 0..K-1)"
        )
    return max(2, int(top) + 1)


def check_positive_int(n, name: str, *, allow_zero: bool = False) -> int:
    """Check an integer hyper-parameter (``bool`` is rejected)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    if n < 0 or (n == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {n}")
    return int(n)


def check_positive_float(x, name: str, *, allow_zero: bool = False) -> float:
    """Check a real, finite, positive hyper-parameter."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    x = float(x)
    if not np.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {x}")
    return x


def check_choice(value, name: str, choices) -> str:
    """Check that ``value`` is one of ``choices``; the error lists them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value
