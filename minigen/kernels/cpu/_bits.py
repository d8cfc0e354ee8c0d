"""Bit casts between floats and same-width integers, for Numba kernels.

The vectorizable ``exp``/``log``/normals read and build IEEE-754 exponent and mantissa
fields; an LLVM ``bitcast`` reinterprets the bits at no cost (NumPy's ``view`` on a scalar).
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic


def _bitcast(src, dst):
    """An intrinsic ``f(x: src) -> dst`` with the bits of ``x`` unchanged."""

    def cast(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    return intrinsic(cast)


f32_to_bits = _bitcast(types.float32, types.int32)
f64_to_bits = _bitcast(types.float64, types.int64)
bits_to_f32 = _bitcast(types.int32, types.float32)
bits_to_f64 = _bitcast(types.int64, types.float64)
