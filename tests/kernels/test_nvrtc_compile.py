"""Every ``kernels/*.cu`` compiles with NVRTC, the run-time compiler behind CuPy's RawModule.

``test_cuda_compile.py`` runs ``nvcc -ptx``, which sees the host C headers: a macro such as
``INFINITY`` from ``<math.h>`` compiles there but not under NVRTC, which has no host
headers. (That happened once and failed on the first real GPU.) Here each source is compiled
exactly as ``minigen.kernels.gpu._module.load_module`` does (same ``#line`` prefix, options
and include folder), with every template instance the wrappers ask for as a name expression,
for a Hopper target. No GPU is needed. The NVRTC library comes from the ``nvidia-cuda-nvrtc``
wheel of the test extra (Linux x86-64); the test skips where it is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import importlib.util
from pathlib import Path

import pytest

from minigen.kernels.gpu._module import kernel_source_dir, read_source

# kernels/<name>.cu -> the wrapper module whose NAME_EXPRESSIONS it must provide
WRAPPERS = {"coupling": "coupling", "gibbs": "gibbs", "langevin": "langevin",
            "multinomial": "multinomial", "philox": "philox", "spline": "spline"}
ARCH = "--gpu-architecture=compute_90"  # H100 / H200


def _find_libnvrtc():
    candidates = []
    spec = importlib.util.find_spec("nvidia")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            candidates += sorted(Path(root).glob("*/lib/libnvrtc.so*"))
    candidates = [p for p in candidates if "builtins" not in p.name]
    found = ctypes.util.find_library("nvrtc")
    for path in [str(p) for p in candidates] + ([found] if found else []):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


LIB = _find_libnvrtc()
pytestmark = pytest.mark.skipif(
    LIB is None, reason="libnvrtc not found (pip install nvidia-cuda-nvrtc, in the test extra)")


def _compile(source: str, name: str, options: list[str], name_expressions: list[str]):
    """(ok, log) of an NVRTC compile, with each name expression registered."""
    prog = ctypes.c_void_p()
    assert LIB.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), f"{name}.cu".encode(),
                                  0, None, None) == 0
    try:
        for expr in name_expressions:
            assert LIB.nvrtcAddNameExpression(prog, expr.encode()) == 0, expr
        opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
        status = LIB.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        LIB.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        LIB.nvrtcGetProgramLog(prog, log)
        missing = []
        if status == 0:
            for expr in name_expressions:
                lowered = ctypes.c_char_p()
                if LIB.nvrtcGetLoweredName(prog, expr.encode(), ctypes.byref(lowered)) != 0:
                    missing.append(expr)
        return status, log.value.decode(errors="replace"), missing
    finally:
        LIB.nvrtcDestroyProgram(ctypes.byref(prog))


def test_every_source_has_a_wrapper():
    sources = {p.stem for p in kernel_source_dir().glob("*.cu")}
    assert sources == set(WRAPPERS), f"update WRAPPERS: {sorted(sources ^ set(WRAPPERS))}"


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_compiles_with_nvrtc(name):
    wrapper = importlib.import_module(f"minigen.kernels.gpu.{WRAPPERS[name]}")
    options = ["-std=c++17", f"-I{kernel_source_dir()}", ARCH]
    status, log, missing = _compile(read_source(name), name, options,
                                    list(wrapper.NAME_EXPRESSIONS))
    assert status == 0, f"NVRTC failed on kernels/{name}.cu:\n{log}"
    assert not missing, f"kernels/{name}.cu lacks template instances {missing}"


def test_a_host_header_macro_is_caught():
    """The check itself: INFINITY (from <math.h>) is unknown to NVRTC."""
    src = "extern \"C\" __global__ void k(float* x) { x[0] = -INFINITY; }\n"
    status, log, _ = _compile(src, "probe", [ARCH], [])
    assert status != 0 and "INFINITY" in log
