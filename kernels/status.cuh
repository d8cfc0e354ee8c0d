// Value checks shared by the kernels: a kernel that meets an invalid value (NaN, inf,
// a negative weight, a uniform outside [0, 1), ...) while reading its input records the
// first bad index in a device status word; the Python wrapper reads that word once after
// the launch and raises the error naming the argument. NVRTC has no <float.h> or
// <math.h> macros, hence the literals.
#pragma once

#define MINIGEN_NO_BAD 0xffffffffffffffffull  // status word before anything is flagged

template <typename T> __device__ __forceinline__ T minigen_max();
template <> __device__ __forceinline__ float minigen_max<float>() { return 3.40282346638528859812e+38f; }
template <> __device__ __forceinline__ double minigen_max<double>() { return 1.79769313486231570815e+308; }

// NaN fails the comparison.
template <typename T> __device__ __forceinline__ bool minigen_finite(T v) { return fabs(v) <= minigen_max<T>(); }

// Record index i as bad (the smallest index flagged wins).
__device__ __forceinline__ void minigen_flag(unsigned long long* status, long long i) {
    atomicMin(status, (unsigned long long)i);
}
