"""Philox4x32-10: known-answer vectors, randomgen oracle, backend parity, distribution."""

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.kernels import philox as P
from minigen.kernels.reference import philox as R

KAT = [  # Random123 kat_vectors, philox4x32_10: (counter, key, expected)
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]
CPU = ["numpy", "numba"]


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_known_answers(backend, ctr, key, expected):
    with use_backend(backend):
        out = P.philox_raw(1, key, ctr)
    assert out.dtype == np.uint32 and out.shape == (1, 4)
    assert tuple(int(x) for x in out[0]) == expected


@pytest.mark.parametrize("key", [0, 1, 0xDEADBEEF, 0x123456789ABCDEF0, 2**64 - 1])
@pytest.mark.parametrize("counter", [0, 5, 2**32 - 2, 2**64 - 3, 2**128 - 3])
def test_matches_randomgen(key, counter):
    randomgen = pytest.importorskip("randomgen")
    g = randomgen.Philox(key=key, counter=counter, number=4, width=32)
    # randomgen increments the counter before its first block: its output starts at counter+1.
    ref = g.random_raw(4 * 6).astype(np.uint32).reshape(6, 4)
    kw = (key & 0xFFFFFFFF, key >> 32)
    for backend in CPU:
        with use_backend(backend):
            np.testing.assert_array_equal(np.asarray(P.philox_raw(6, kw, counter + 1)), ref)


def test_counter_carry_wraps_128_bits():
    out = R.philox_raw(3, (7, 9), 2**128 - 1)
    np.testing.assert_array_equal(out[1], R.philox_raw(1, (7, 9), 0)[0])
    np.testing.assert_array_equal(out[2], R.philox_raw(1, (7, 9), (1, 0, 0, 0))[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed,offset", [(0, 0), (12345, 17), (2**64 - 1, 2**32 - 5)])
def test_numba_matches_reference(dtype, seed, offset):
    with use_backend("numpy"):
        u0 = P.philox_uniforms((50, 7), seed, offset, dtype)
        z0 = P.philox_normals((50, 7), seed, offset, dtype)
    with use_backend("numba"):
        u1 = P.philox_uniforms((50, 7), seed, offset, dtype)
        z1 = P.philox_normals((50, 7), seed, offset, dtype)
    assert u1.dtype == dtype and z1.dtype == dtype and u1.shape == (50, 7)
    np.testing.assert_array_equal(u0, u1)
    # Box-Muller: NumPy's SIMD log/cos and libm may differ in the last ulp.
    np.testing.assert_allclose(z0, z1, rtol=1e-12 if dtype == np.float64 else 1e-6, atol=1e-12)


def test_uniform_formula_and_offsets():
    words = R.philox_raw(10, R.seed_key(99), 40)
    u32 = R.philox_uniforms(10, 99, 40, np.float32)
    np.testing.assert_array_equal(u32, (words[:, 0] >> 8).astype(np.float32) / 2**24)
    u64 = R.philox_uniforms(10, 99, 40, np.float64)
    a, b = words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64)
    np.testing.assert_array_equal(u64, ((a >> 5) * 2**26 + (b >> 6)) / 2.0**53)
    # offset shifts the stream: element i at offset o is element o+i at offset 0
    np.testing.assert_array_equal(R.philox_uniforms(50, 99, 0)[40:], u32)


def test_numba_scalar_helpers_match():
    from minigen.kernels.cpu import philox as C

    seed, pos = np.uint64(2**40 + 3), np.uint64(2**33 + 11)
    x = C.philox_block(seed, pos)
    ref = R.philox_raw(1, R.seed_key(int(seed)), int(pos))[0]
    assert tuple(int(v) for v in x) == tuple(int(v) for v in ref)
    assert C.philox_uniform_f32(seed, pos) == R.philox_uniforms(1, int(seed), int(pos))[0]
    assert C.philox_uniform_f64(seed, pos) == R.philox_uniforms(1, int(seed), int(pos), "f8")[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distribution(dtype):
    n = 200_000
    u = R.philox_uniforms(n, 2024, dtype=dtype)
    assert u.min() >= 0 and u.max() < 1
    counts = np.bincount((u * 20).astype(int), minlength=20)
    chi2 = ((counts - n / 20) ** 2 / (n / 20)).sum()
    assert chi2 < 19 + 6 * np.sqrt(2 * 19)  # mean 19, sd sqrt(38): a 6-sigma bound
    z = R.philox_normals(n, 2024, dtype=dtype).astype(np.float64)
    assert np.isfinite(z).all()
    assert abs(z.mean()) < 5 / np.sqrt(n) and abs(z.var() - 1) < 5 * np.sqrt(2 / n)


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match="seed"):
        P.philox_uniforms(3, -1)
    with pytest.raises(TypeError, match="seed"):
        P.philox_uniforms(3, 1.5)
    with pytest.raises(ValueError, match="offset"):
        P.philox_uniforms(3, 1, offset=-2)
    with pytest.raises(TypeError, match="dtype"):
        P.philox_normals(3, 1, dtype=np.int32)
    with pytest.raises(ValueError, match="key"):
        P.philox_raw(2, (1, 2**32))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_matches_reference(dtype):
    import cupy

    with use_backend("cupy"):
        for ctr, key, expected in KAT:
            assert tuple(int(x) for x in P.philox_raw(1, key, ctr).get()[0]) == expected
        u = P.philox_uniforms((300, 5), 77, 2**32 - 9, dtype)
        z = P.philox_normals((300, 5), 77, 2**32 - 9, dtype)
    assert isinstance(u, cupy.ndarray)
    np.testing.assert_array_equal(u.get(), R.philox_uniforms((300, 5), 77, 2**32 - 9, dtype))
    np.testing.assert_allclose(z.get(), R.philox_normals((300, 5), 77, 2**32 - 9, dtype),
                               rtol=1e-12 if dtype == np.float64 else 1e-6, atol=1e-12)
