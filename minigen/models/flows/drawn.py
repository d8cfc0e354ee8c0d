"""What a flow draws when it is built (a 1x1 convolution's permutation and signs, a random
permutation), kept in checkpoints.

``load`` rebuilds a model from its hyper-parameters with a fixed seed, so a buffer drawn
from the run's Generator at build time would come back different unless the file holds
it. A layer names such buffers in ``drawn_buffers`` and may check values read from a file
in ``set_drawn(values)``; :func:`drawn_state` collects them under ``drawn/<module>.<buffer>``
and :func:`load_drawn_state` puts them back, refusing a file that lacks one or holds one
of the wrong shape.
"""

from __future__ import annotations

import numpy as np

from ...backend import get_backend, to_numpy
from ...io import CheckpointError

__all__ = ["drawn_state", "load_drawn_state", "PREFIX"]

PREFIX = "drawn/"


def _drawn(flow):
    for mname, m in flow.named_modules():
        for buf in getattr(m, "drawn_buffers", ()):
            yield f"{PREFIX}{mname}.{buf}" if mname else f"{PREFIX}{buf}", m, buf


def drawn_state(flow) -> dict:
    """``{"drawn/<module>.<buffer>": host copy}`` for every drawn buffer of ``flow``."""
    return {key: to_numpy(getattr(m, buf)).copy() for key, m, buf in _drawn(flow)}


def load_drawn_state(flow, state: dict) -> None:
    """Restore the drawn buffers from ``state`` (keys as :func:`drawn_state` writes them)."""
    expected = list(_drawn(flow))
    unknown = sorted(set(k for k in state if k.startswith(PREFIX)) - {k for k, _, _ in expected})
    if unknown:
        raise CheckpointError(f"checkpoint has drawn buffers {unknown} the model does not have")
    per_module: dict = {}
    for key, m, buf in expected:
        if key not in state:
            raise CheckpointError(
                f"checkpoint lacks {key!r}, drawn when the model was built (files written "
                "before minigen saved it cannot be reloaded exactly: retrain)")
        src, dst = np.asarray(to_numpy(state[key])), getattr(m, buf)
        if src.shape != tuple(dst.shape) or src.dtype.kind not in "biuf":
            raise CheckpointError(f"{key!r} has shape {src.shape} and dtype {src.dtype} in the "
                                  f"checkpoint, the model expects {tuple(dst.shape)}")
        per_module.setdefault(id(m), (m, {}))[1][buf] = src
    be = get_backend()
    for m, values in per_module.values():
        setter = getattr(m, "set_drawn", None)
        if setter is not None:
            try:
                setter(values)
            except ValueError as exc:
                raise CheckpointError(f"checkpoint has invalid drawn buffers of "
                                      f"{type(m).__name__}: {exc}") from None
            continue
        for buf, src in values.items():
            dst = getattr(m, buf)
            dst[...] = be.asarray(src, dtype=dst.dtype)
