"""Checkpoints: a ``.npz`` of named arrays plus JSON metadata, written atomically.

Format: one ``.npz`` file (``numpy.savez``; loaded with ``allow_pickle=False``)
holding every array under its name, plus one extra entry ``__metadata__``: a
uint8 array of UTF-8 JSON (model class, hyper-parameters, minigen version,
backend, epoch/step, RNG state, ...). Nothing is ever pickled, so loading a
checkpoint cannot run code.

The write goes to a temporary file in the same folder, is flushed and
fsync'ed, and then moved over the target with :func:`os.replace`, which is
atomic on POSIX and Windows: a crash mid-write leaves the previous checkpoint
intact, never a half-written one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import to_numpy

METADATA_KEY = "__metadata__"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or of the wrong kind."""


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serializable")


def save_checkpoint(path, arrays: dict, metadata: dict | None = None) -> Path:
    """Atomically write ``arrays`` (name -> array) and ``metadata`` (JSON-able) to ``path``.

    Arrays may live on any backend; they are copied to the host. Returns the path.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    if not isinstance(arrays, dict):
        raise TypeError("arrays must be a dict mapping names to arrays")
    if METADATA_KEY in arrays:
        raise ValueError(f"array name {METADATA_KEY!r} is reserved")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    # format_version is ours: a caller's value would silently relabel the file. Passing
    # the current version back (rewriting loaded metadata) is harmless, so it is allowed.
    if (metadata or {}).get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ValueError("metadata key 'format_version' is reserved (minigen sets it)")
    host = {}
    for name, value in arrays.items():
        a = to_numpy(value)
        if a.dtype == object:
            raise TypeError(f"array {name!r} has dtype object; checkpoints never pickle")
        host[str(name)] = a
    meta = {"format_version": FORMAT_VERSION, **(metadata or {})}
    blob = json.dumps(meta, default=_json_default, sort_keys=True).encode("utf-8")
    host[METADATA_KEY] = np.frombuffer(blob, dtype=np.uint8)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **host)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path) -> tuple[dict, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns ``(arrays, metadata)``. Raises :class:`CheckpointError` with the path
    and the cause for a missing, truncated or corrupt file.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from None
    if METADATA_KEY not in arrays:
        raise CheckpointError(f"checkpoint {str(path)!r} has no minigen metadata entry")
    try:
        meta = json.loads(arrays.pop(METADATA_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} has unreadable metadata: {exc}") from None
    # valid JSON is not yet valid metadata: a list or a string here would fail later
    # with an AttributeError far from the file that caused it
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"checkpoint {str(path)!r} has metadata of type {type(meta).__name__}, "
            "expected a JSON object"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {meta.get('format_version')!r}, "
            f"this minigen reads version {FORMAT_VERSION}"
        )
    return arrays, meta


#: array-name prefix -> Checkpoint field (one layout for model files and training runs)
_SECTIONS = {"param/": "params", "extra/": "extra", "optim/": "optimizer", "best/": "best",
             "last/": "last"}
_VALID_IDX = "split/valid_idx"


@dataclass
class Checkpoint:
    """One file's content: a model's arrays and, for a training run, what resuming needs.

    Layout on disk (``save_checkpoint``; ``GenerativeModel.load`` reads ``param/`` and
    ``extra/`` only, so a run's checkpoint is also a model file)::

        param/<name>      model.trainable_arrays(): the model the file stands for
        extra/<name>      model.extra_state() (persistent chains, masks, flags, ...)
        optim/<key>       optimizer.state_dict() (moments, step count)
        best/<name>       parameters at the best validation NLL (early stopping only)
        last/<name>       an early-stopped run's last-epoch parameters, which a resume
                          continues from (param/ then holds the restored best ones)
        split/valid_idx   rows held out by validation_fraction (when used)
        metadata          model.checkpoint_metadata() (+ "training": epoch, step,
                          rng_state, history, settings, best/bad-epoch counters, finished)
    """

    metadata: dict
    params: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)
    last: dict = field(default_factory=dict)
    valid_idx: np.ndarray | None = None

    @property
    def training(self) -> dict | None:
        """The run's state (``metadata["training"]``), or ``None`` for a model file."""
        return self.metadata.get("training")

    def arrays(self) -> dict:
        """The flat ``name -> array`` dict written to disk."""
        out = {f"{prefix}{k}": v for prefix, attr in _SECTIONS.items()
               for k, v in getattr(self, attr).items()}
        if self.valid_idx is not None:
            out[_VALID_IDX] = self.valid_idx
        return out

    def save(self, path) -> Path:
        return save_checkpoint(path, self.arrays(), self.metadata)

    @classmethod
    def from_arrays(cls, arrays: dict, metadata: dict) -> Checkpoint:
        ckpt = cls(metadata=metadata, valid_idx=arrays.get(_VALID_IDX))
        for name, value in arrays.items():
            for prefix, attr in _SECTIONS.items():
                if name.startswith(prefix):
                    getattr(ckpt, attr)[name[len(prefix):]] = value
        return ckpt

    @classmethod
    def load(cls, path) -> Checkpoint:
        """Read ``path``; :class:`CheckpointError` naming it when it cannot be read."""
        return cls.from_arrays(*load_checkpoint(path))
