"""``kernels/spline.cu`` run on the host: without a GPU, the CUDA source itself is compiled
as C++ by g++ with stand-ins for the CUDA built-ins (one thread per block, so the block
reduction and atomics are trivially serial; host libm instead of CUDA's) and checked
against the NumPy reference, values and status codes. This catches logic errors in the
.cu file that the compile-only tests cannot; the ``gpu`` tests in ``test_spline.py`` check
the real device. Skipped without g++."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from minigen.kernels.gpu._module import kernel_source_dir
from minigen.kernels.gpu.spline import _scalars
from minigen.kernels.reference import spline as R

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")

_HARNESS = r"""
#include <math.h>
#define __device__
#define __global__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static
struct dim3_ { unsigned int x; };
static dim3_ blockIdx, threadIdx, blockDim, gridDim;
static void __syncthreads() {}
static unsigned long long atomicMin(unsigned long long* a, unsigned long long v) {
    unsigned long long o = *a; if (v < o) *a = v; return o; }
#include "spline.cu"
#define ONE_THREAD gridDim.x = 1; blockDim.x = 1; threadIdx.x = 0; blockIdx.x = 0
#define ENTRY(T, S) \
extern "C" void fwd_##S(const T* x, const T* w, const T* h, const T* d, T* y, double* ld, \
    unsigned long long* st, long long n, long long dd, int K, int inv, const T* c) { \
    ONE_THREAD; spline_fwd<T>(x, w, h, d, y, ld, st, n, dd, K, inv, c[0], c[1], c[2], c[3], \
                              c[4], c[5], c[6]); } \
extern "C" void bwd_##S(const T* x, const T* w, const T* h, const T* d, const T* gy, \
    const double* gl, T* gx, T* gw, T* gh, T* gd, unsigned long long* st, long long n, \
    long long dd, int K, int inv, const T* c) { \
    ONE_THREAD; spline_bwd<T>(x, w, h, d, gy, gl, gx, gw, gh, gd, st, n, dd, K, inv, c[0], \
                              c[1], c[2], c[3], c[4], c[5], c[6]); }
ENTRY(float, f)
ENTRY(double, d)
"""
_CLEAN = np.iinfo(np.uint64).max


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spline_host")
    (tmp / "harness.cpp").write_text(_HARNESS)
    out = tmp / "libspline_host.so"
    cmd = ["g++", "-O1", "-std=c++17", "-shared", "-fPIC", f"-I{kernel_source_dir()}",
           str(tmp / "harness.cpp"), "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return ctypes.CDLL(str(out))


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def _call(lib, name, x, w, h, d, inverse, extra_in=(), extra_out=()):
    n, dd = x.shape
    suffix = "f" if x.dtype == np.float32 else "d"
    status = np.full(1, _CLEAN, np.uint64)
    consts = np.array(_scalars(x.dtype, w.shape[2], 3.0, 1e-3, 1e-3, 1e-3), dtype=x.dtype)
    getattr(lib, f"{name}_{suffix}")(
        *map(_ptr, (x, w, h, d, *extra_in, *extra_out, status)), ctypes.c_longlong(n),
        ctypes.c_longlong(dd), ctypes.c_int(w.shape[2]), ctypes.c_int(int(inverse)), _ptr(consts))
    return int(status[0])


def _run(lib, x, w, h, d, inverse, gy=None, gl=None):
    if gy is None:
        y, ld = np.empty_like(x), np.zeros(x.shape[0])
        return (y, ld), _call(lib, "fwd", x, w, h, d, inverse, extra_out=(y, ld))
    grads = tuple(np.empty_like(a) for a in (x, w, h, d))
    return grads, _call(lib, "bwd", x, w, h, d, inverse, extra_in=(gy, gl), extra_out=grads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("n,dd,n_bins", [(3, 5, 4), (20, 30, 8), (2, 3, 1), (4, 4, 2)])
def test_cuda_source_matches_reference(lib, dtype, inverse, n, dd, n_bins):
    rng = np.random.default_rng(n * dd + n_bins)
    x = rng.uniform(-4, 4, (n, dd)).astype(dtype)
    w, h = (rng.standard_normal((n, dd, n_bins)).astype(dtype) for _ in range(2))
    d = rng.standard_normal((n, dd, n_bins - 1)).astype(dtype)
    gy, gl = rng.standard_normal((n, dd)).astype(dtype), rng.standard_normal(n)
    rtol = 1e-12 if dtype is np.float64 else 5e-5
    out, status = _run(lib, x, w, h, d, inverse)
    grads, status_b = _run(lib, x, w, h, d, inverse, gy, gl)
    assert status == status_b == _CLEAN
    ref = R.spline_coupling(x, w, h, d, inverse=inverse)
    ref_g = R.spline_coupling_backward(x, w, h, d, gy, gl, inverse=inverse)
    for got, want in zip(out + grads, ref + ref_g, strict=True):
        if want.size:
            scale = max(float(np.abs(want).max()), 1.0)
            assert float(np.abs(got - want).max()) <= rtol * scale


@pytest.mark.parametrize("name,index,arg", [("x", (1, 2), 0), ("widths", (2, 1, 3), 1),
                                            ("heights", (0, 3, 0), 2),
                                            ("derivatives", (1, 0, 3), 3), ("gy", (2, 1), 4),
                                            ("glogdet", (1,), 5)])
def test_cuda_source_reports_the_first_bad_value(lib, name, index, arg):
    rng = np.random.default_rng(0)
    arrays = dict(x=rng.uniform(-4, 4, (3, 4)), widths=rng.standard_normal((3, 4, 5)),
                  heights=rng.standard_normal((3, 4, 5)),
                  derivatives=rng.standard_normal((3, 4, 4)), gy=rng.standard_normal((3, 4)),
                  glogdet=rng.standard_normal(3))
    arrays[name][index] = np.nan
    _, status = _run(lib, *(arrays[k] for k in ("x", "widths", "heights", "derivatives")),
                     False, arrays["gy"], arrays["glogdet"])
    flat = index[0] * 4 + (index[1] if name != "glogdet" else 0)
    assert status == 8 * flat + arg
    if name not in ("gy", "glogdet"):
        _, status_f = _run(lib, *(arrays[k] for k in ("x", "widths", "heights", "derivatives")),
                           True)
        assert status_f == 8 * flat + arg
