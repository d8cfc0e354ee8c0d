"""Checkpoints: a ``.npz`` of named arrays plus JSON metadata, written atomically.

Format: one ``.npz`` file (a zip of ``.npy`` members, as ``numpy.savez`` writes and
``numpy.load`` reads) holding every array under its name, plus one extra entry
``__metadata__``: a uint8 array of UTF-8 JSON (model class, hyper-parameters, minigen
version, backend, epoch/step, RNG state, ...). Nothing is ever pickled, so loading a
checkpoint cannot run code. Members carry a fixed timestamp, so the same content gives
the same bytes (a resumed run's files can be compared bitwise with an uninterrupted one's).

**Writing** goes to a temporary file ``.<name>.<pid>-<token>.tmp`` in the same folder,
is flushed and fsync'ed, and is then moved over the target with :func:`os.replace`,
atomic on POSIX and Windows: a crash mid-write leaves the previous checkpoint intact.
Temporary files left by a killed writer are removed by the next write of that name. A
failed write (disk full, ...) raises ``OSError`` naming the file and leaves no
temporary file behind.

**Reading** (:func:`open_checkpoint`) checks sizes before it allocates anything: the
zip's directory (at most :data:`MAX_MEMBERS` members), then every member's ``.npy``
header, whose declared size must be exactly the member's size in the zip; a compressed
member may expand at most :data:`MAX_EXPANSION` times (minigen writes them
uncompressed); the metadata is at most :data:`MAX_METADATA_BYTES`; the arrays together
at most ``MINIGEN_MAX_CHECKPOINT_BYTES`` (environment variable, default
:data:`MAX_CHECKPOINT_BYTES`). Array data are read only when asked for. Anything that
is not such a file raises :class:`CheckpointError` naming it.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from .backend import to_numpy

METADATA_KEY = "__metadata__"
FORMAT_VERSION = 1
#: most members a checkpoint's zip directory may list (each costs memory to index)
MAX_MEMBERS = 100_000
#: a compressed member may hold at most this many times its compressed size
MAX_EXPANSION = 16
#: largest metadata entry (JSON) read
MAX_METADATA_BYTES = 64 * 2**20
#: default of ``MINIGEN_MAX_CHECKPOINT_BYTES``: the arrays of one checkpoint, together
MAX_CHECKPOINT_BYTES = 16 * 2**30
#: a zip's fixed member timestamp (the earliest a zip can hold): same content, same bytes
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
#: a temporary file of a killed writer is removed after this long when its pid is unknown
_STALE_TMP_SECONDS = 3600.0


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt, too large or of the wrong kind."""


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serializable")


def max_checkpoint_bytes() -> int:
    """The cap on a checkpoint's array bytes: ``MINIGEN_MAX_CHECKPOINT_BYTES`` or 16 GiB."""
    text = os.environ.get("MINIGEN_MAX_CHECKPOINT_BYTES")
    if not text:
        return MAX_CHECKPOINT_BYTES
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise ValueError(f"MINIGEN_MAX_CHECKPOINT_BYTES must be an int >= 1, got {text!r}")
    return value


def state_array(value, name: str, *, ndim: int, width: int | None = None) -> np.ndarray:
    """``value`` (extra state read from a checkpoint) as a finite real host array of
    ``ndim`` dimensions and, if given, ``width`` entries on its last axis; else a
    :class:`CheckpointError` naming ``name`` (a wrong width or a NaN would load and
    fail, or poison the model, later)."""
    a = np.asarray(to_numpy(value))
    if a.ndim != ndim or a.dtype.kind not in "biuf" or (width is not None
                                                         and a.shape[-1] != width):
        want = f"{ndim}-D" + (f" with {width} entries per row" if width is not None else "")
        raise CheckpointError(f"extra state {name!r} has shape {a.shape} and dtype "
                              f"{a.dtype}; the model expects a real {want} array")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise CheckpointError(f"extra state {name!r} holds {int((~np.isfinite(a)).sum())} "
                              "non-finite (NaN or inf) values")
    return a


# ---------------------------------------------------------------------- writing
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
        if a.dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object; checkpoints never pickle")
        host[str(name)] = a
    meta = {"format_version": FORMAT_VERSION, **(metadata or {})}
    blob = json.dumps(meta, default=_json_default, sort_keys=True).encode("utf-8")
    host[METADATA_KEY] = np.frombuffer(blob, dtype=np.uint8)

    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "cannot write a checkpoint into a file",
                                 str(path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_zip(fh, host)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # e.g. ENOSPC from write()
            raise OSError(exc.errno, f"{exc.strerror or exc} while writing the checkpoint",
                          str(path)) from None
        raise
    return path


def _write_zip(fh, host: dict) -> None:
    """``numpy.savez``'s layout (one stored ``<name>.npy`` per array) with fixed timestamps."""
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, a in host.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o600 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                npy_format.write_array(member, np.asanyarray(a), allow_pickle=False)


def _tmp_pid(name: str, target: str):
    """The writer's pid in a temporary file name, or None (an older name, or no pid)."""
    middle = name[len(target) + 2:-len(".tmp")]
    head = middle.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path) -> list[Path]:
    """Remove temporary files of earlier writes of ``path`` whose writer is gone (killed
    mid-write); returns those removed. A live writer's file is left alone."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = _tmp_pid(tmp.name, path.name)
        if pid == os.getpid():
            continue
        if os.name == "posix" and pid is not None:
            stale = not _alive(pid)
        else:  # no pid to ask about (or no signal 0 on Windows): go by age
            try:
                stale = time.time() - tmp.stat().st_mtime > _STALE_TMP_SECONDS
            except OSError:
                continue
        if stale:
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


# ---------------------------------------------------------------------- reading
@dataclass(frozen=True)
class ArrayInfo:
    """One array as its ``.npy`` header declares it (nothing read beyond the header)."""

    name: str
    shape: tuple
    dtype: np.dtype
    nbytes: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class CheckpointFile:
    """An opened checkpoint: its index (every array's header) and metadata are read and
    checked; array data are read on demand with :meth:`read`. Use as a context manager."""

    def __init__(self, path):
        self.path = Path(path)
        self.where = f"checkpoint {str(self.path)!r}"
        self._zip = None
        self.index: dict[str, ArrayInfo] = {}
        self._members: dict[str, zipfile.ZipInfo] = {}
        try:
            self._open()
            self.metadata = self._read_metadata()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ context
    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.where} {what}")

    # ------------------------------------------------------------ index
    def _open(self) -> None:
        path = self.path
        if not path.exists():
            raise self._fail("does not exist")
        if path.is_dir():
            raise self._fail("is a directory, not a checkpoint file")
        try:
            with open(path, "rb") as fh:
                head = fh.read(6)
                if head == b"\x93NUMPY":
                    raise self._fail("is a plain .npy array file, not a minigen checkpoint "
                                     "(.npz written by save)")
                end = zipfile._EndRecData(fh) if hasattr(zipfile, "_EndRecData") else None
            if end is not None and end[4] > MAX_MEMBERS:  # _ECD_ENTRIES_TOTAL
                raise self._fail(f"lists {end[4]} members (at most {MAX_MEMBERS})")
            self._zip = zipfile.ZipFile(path)
            members = self._zip.infolist()
        except CheckpointError:
            raise
        except (PermissionError, IsADirectoryError) as exc:
            raise self._fail(f"cannot be read ({exc.strerror or exc})") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
                KeyError, NotImplementedError) as exc:
            raise self._fail(f"is truncated or corrupt ({type(exc).__name__}: {exc})") from None
        if len(members) > MAX_MEMBERS:
            raise self._fail(f"lists {len(members)} members (at most {MAX_MEMBERS})")
        total, cap = 0, max_checkpoint_bytes()
        for m in members:
            info = self._index_member(m)
            total += info.nbytes
            if total > cap:
                raise self._fail(
                    f"declares more than {cap} bytes of arrays (the cap; set "
                    "MINIGEN_MAX_CHECKPOINT_BYTES to allow more)")
            self.index[info.name] = info
            self._members[info.name] = m

    def _index_member(self, m: zipfile.ZipInfo) -> ArrayInfo:
        if m.is_dir() or not m.filename.endswith(".npy"):
            raise self._fail(f"has a member {m.filename!r} that is not a .npy array: not a "
                             "minigen checkpoint")
        name = m.filename[: -len(".npy")]
        if name in self.index:
            raise self._fail(f"has two members named {m.filename!r}")
        if m.compress_type != zipfile.ZIP_STORED and \
                m.file_size > MAX_EXPANSION * m.compress_size + 2**16:
            raise self._fail(
                f"array {name!r} expands from {m.compress_size} to {m.file_size} bytes "
                f"(more than {MAX_EXPANSION}x; minigen writes arrays uncompressed)")
        try:
            with self._zip.open(m) as fh:
                version = npy_format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f".npy format version {version} is not read here")
                header_len = fh.tell()
        except Exception as exc:  # noqa: BLE001 - any parser failure (TokenError, ...) is corruption
            raise self._fail(f"has an unreadable .npy header for {name!r} "
                             f"({type(exc).__name__}: {exc})") from None
        if dtype.hasobject:
            raise self._fail(f"array {name!r} has dtype object (pickled data is never loaded)")
        if not all(isinstance(s, int) and s >= 0 for s in shape):
            raise self._fail(f"array {name!r} declares an invalid shape {shape!r}")
        nbytes = math.prod(shape) * dtype.itemsize
        if header_len + nbytes != m.file_size:
            raise self._fail(
                f"array {name!r} declares shape {shape} of {dtype} ({nbytes} bytes) but its "
                f"member holds {m.file_size - header_len} bytes of data")
        return ArrayInfo(name, tuple(shape), dtype, nbytes)

    def _read_metadata(self) -> dict:
        info = self.index.get(METADATA_KEY)
        if info is None:
            raise self._fail("has no minigen metadata entry")
        if info.dtype != np.uint8 or len(info.shape) != 1 or info.nbytes > MAX_METADATA_BYTES:
            raise self._fail(f"has a metadata entry of shape {info.shape} and dtype "
                             f"{info.dtype} (expected at most {MAX_METADATA_BYTES} bytes of "
                             "uint8 JSON)")
        blob = self.read(METADATA_KEY)
        try:
            meta = json.loads(blob.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise self._fail(f"has unreadable metadata: {exc}") from None
        # valid JSON is not yet valid metadata: a list or a string here would fail later
        # with an AttributeError far from the file that caused it
        if not isinstance(meta, dict):
            raise self._fail(f"has metadata of type {type(meta).__name__}, expected a JSON "
                             "object")
        if meta.get("format_version") != FORMAT_VERSION:
            raise self._fail(f"has format version {meta.get('format_version')!r}, this "
                             f"minigen reads version {FORMAT_VERSION}")
        return meta

    # ------------------------------------------------------------ data
    def names(self) -> list[str]:
        """Array names (the metadata entry excluded), in file order."""
        return [k for k in self.index if k != METADATA_KEY]

    def read(self, name: str) -> np.ndarray:
        """The array ``name`` (its size was checked when the file was opened)."""
        if self._zip is None:
            raise ValueError(f"{self.where} is closed")
        try:
            with self._zip.open(self._members[name]) as fh:
                return npy_format.read_array(fh, allow_pickle=False)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise self._fail(f"is truncated or corrupt ({type(exc).__name__}: {exc})") from None

    def read_all(self) -> dict:
        """Every array (the metadata entry excluded): ``name -> ndarray``."""
        return {k: self.read(k) for k in self.names()}


def open_checkpoint(path) -> CheckpointFile:
    """Open ``path``: index and metadata checked and read, arrays on demand
    (:class:`CheckpointFile`); :class:`CheckpointError` naming the file otherwise."""
    return CheckpointFile(path)


def load_checkpoint(path) -> tuple[dict, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns ``(arrays, metadata)``. Raises :class:`CheckpointError` with the path and
    the cause for a missing, truncated, corrupt or oversized file.
    """
    with open_checkpoint(path) as ckpt:
        return ckpt.read_all(), ckpt.metadata


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
