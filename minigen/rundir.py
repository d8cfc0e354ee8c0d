"""A ``minigen train`` run directory, owned by one run at a time.

* **Lock**: an exclusive, non-blocking ``fcntl.flock`` (``msvcrt.locking`` on Windows) on
  ``DIR/.minigen.lock``, held while the run writes there. The operating system releases
  it when the process exits or dies (``kill -9`` included), so a crashed run never
  leaves a stale lock; a second run into the same directory fails at once with
  :class:`RunDirBusy` naming the holder's pid.
* **Run files** (:data:`RUN_FILES`): ``checkpoint.npz``, ``model.npz``, ``metrics.json``,
  ``samples.png``. A directory holding any of them holds a run: ``minigen train`` then
  refuses it unless told ``--resume`` (continue it) or ``--force`` (replace it, which
  removes them first, so the directory never mixes two runs' files).
* Every file is written to a temporary name and moved into place (:func:`write_atomic`),
  so a run killed at any moment leaves each file whole: the previous version or the new.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["RunDirBusy", "RunLock", "RUN_FILES", "LOCK_NAME", "run_files", "clear_run",
           "write_atomic"]

LOCK_NAME = ".minigen.lock"
RUN_FILES = ("checkpoint.npz", "model.npz", "metrics.json", "samples.png")


class RunDirBusy(RuntimeError):
    """Another process holds the run directory's lock."""


def _try_lock(fh) -> bool:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        try:
            fh.seek(0)  # msvcrt locks bytes from the current position
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class RunLock:
    """``with RunLock(folder):`` own ``folder`` (see the module docstring)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fh = None

    def __enter__(self):
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        if not _try_lock(fh):
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RunDirBusy(f"--out {str(self.folder)!r} is in use by another minigen "
                             f"train{who}; wait for it to finish or use another --out")
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc):
        if self._fh is not None:
            self._fh.close()  # closing the descriptor releases the lock
            self._fh = None


def run_files(folder) -> list[str]:
    """The :data:`RUN_FILES` present in ``folder``."""
    return [name for name in RUN_FILES if (Path(folder) / name).exists()]


def clear_run(folder) -> None:
    """Remove a run's files (and temporaries of its writes) from ``folder``."""
    folder = Path(folder)
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
        for tmp in folder.glob(f".{name}.*.tmp*"):
            tmp.unlink(missing_ok=True)


def write_atomic(path, write) -> Path:
    """``write(tmp_path)`` then move ``tmp_path`` over ``path`` (same folder, same suffix so
    that writers choosing a format by extension still work). Called under the lock: a
    temporary of ``path`` left by a killed run is an orphan, removed first."""
    path = Path(path)
    for old in path.parent.glob(f".{path.name}.*.tmp*"):
        old.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
