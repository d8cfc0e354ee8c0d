"""Load and cache the CUDA sources in the top-level ``kernels/`` folder as CuPy RawModules.

The ``.cu`` files are found in a source checkout (``<repo>/kernels``) and in an
installed wheel (``minigen/_cuda``, put there by hatch's ``force-include``).
Each source is compiled once per (name, device, options) and cached; a
``#line 1 "<file>"`` directive is prepended so compiler errors point at the
real file and line.
"""

from __future__ import annotations

import functools
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # .../minigen
CANDIDATE_DIRS = (_PACKAGE_DIR / "_cuda", _PACKAGE_DIR.parent / "kernels")


def kernel_source_dir() -> Path:
    """Folder holding the ``.cu`` sources (installed wheel first, then source checkout)."""
    for d in CANDIDATE_DIRS:
        if d.is_dir() and any(d.glob("*.cu")):
            return d
    raise FileNotFoundError(
        "minigen's CUDA sources (*.cu) were not found in "
        + " or ".join(str(d) for d in CANDIDATE_DIRS)
    )


def read_source(name: str) -> str:
    """Source of ``kernels/<name>.cu`` with a ``#line`` directive and its include dir usable."""
    path = kernel_source_dir() / f"{name}.cu"
    if not path.exists():
        raise FileNotFoundError(f"CUDA source {path} not found")
    return f'#line 1 "{path}"\n' + path.read_text()


@functools.cache
def _load(name: str, device_id: int, name_expressions: tuple, options: tuple):
    import cupy

    src = read_source(name)
    opts = options + (f"-I{kernel_source_dir()}",)
    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(
            code=src,
            options=opts,
            name_expressions=list(name_expressions) if name_expressions else None,
        )
        module.compile()
    return module


def load_module(name: str, name_expressions=(), options=("-std=c++17",)):
    """Compiled, cached ``cupy.RawModule`` for ``kernels/<name>.cu`` on the current device."""
    import cupy

    return _load(name, cupy.cuda.Device().id, tuple(name_expressions), tuple(options))


def grid_1d(n: int, block: int = 256) -> tuple[tuple[int], tuple[int]]:
    """Grid and block sizes covering ``n`` threads (at least one block)."""
    return (max(1, (n + block - 1) // block),), (block,)
