// Gibbs kernels (see minigen/kernels/reference/gibbs.py for the specification).
// Templated on T = float | double; instantiated through CuPy name_expressions.
// Matrix products run in cuBLAS (cupy matmul); these kernels fuse sigmoid + Bernoulli.
#include "philox.cuh"

template <typename T> __device__ __forceinline__ T sigmoid(T z);
template <> __device__ __forceinline__ float sigmoid<float>(float z) { return 1.0f / (1.0f + expf(-z)); }
template <> __device__ __forceinline__ double sigmoid<double>(double z) { return 1.0 / (1.0 + exp(-z)); }

// Packed uniform number i of the stream (seed, offset): float32 uses word i % 4 of block
// offset + i / 4; float64 words (2m, 2m + 1), m = i % 2, of block offset + i / 2
// (minigen/kernels/reference/gibbs.py: packed_uniforms).
template <typename T> __device__ __forceinline__ T packed_uniform(unsigned long long, unsigned long long, unsigned long long);
template <> __device__ __forceinline__ float packed_uniform<float>(unsigned long long seed, unsigned long long offset, unsigned long long i) {
    const philox4 x = philox_block(seed, offset + i / 4);
    const unsigned int k = (unsigned int)(i & 3ull);
    const unsigned int w = k == 0 ? x.x0 : (k == 1 ? x.x1 : (k == 2 ? x.x2 : x.x3));
    return (float)(w >> 8) * 5.9604644775390625e-08f;  // 2^-24
}
template <> __device__ __forceinline__ double packed_uniform<double>(unsigned long long seed, unsigned long long offset, unsigned long long i) {
    const philox4 x = philox_block(seed, offset + i / 2);
    const unsigned long long m = (i & 1ull) ? philox_u53(x.x2, x.x3) : philox_u53(x.x0, x.x1);
    return (double)m * 1.1102230246251565e-16;  // 2^-53
}

// p = sigmoid(a + bias[col]); if sample != 0: s = (u < p), u[r, j] = u[r * u_stride + j]
// (explicit) or packed Philox uniform number base + r * u_stride + j (use_philox != 0).
template <typename T>
__global__ void sigmoid_bernoulli(const T* __restrict__ a, const T* __restrict__ bias,
                                  const T* __restrict__ u, T* __restrict__ p, T* __restrict__ s,
                                  long long rows, long long cols, long long u_stride,
                                  int sample, int use_philox, unsigned long long seed,
                                  unsigned long long offset, unsigned long long base) {
    long long n = rows * cols;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        long long r = i / cols, j = i - r * cols;
        T pj = sigmoid<T>(a[i] + bias[j]);
        p[i] = pj;
        if (sample) {
            T uj = use_philox ? packed_uniform<T>(seed, offset, base + (unsigned long long)(r * u_stride + j))
                              : u[r * u_stride + j];
            s[i] = uj < pj ? T(1) : T(0);
        }
    }
}

// Sequential single-site sweeps, one thread per chain (x is (chains, n), updated in place).
// Site i of chain c in sweep t uses u[(t * chains + c) * n + i] (explicit) or that Philox
// position plus offset.
template <typename T>
__global__ void bm_gibbs_sweep(T* __restrict__ x, const T* __restrict__ J,
                               const T* __restrict__ h, const long long* __restrict__ order,
                               const T* __restrict__ u, long long chains, long long n,
                               int n_sweeps, int use_philox, unsigned long long seed,
                               unsigned long long offset) {
    long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (c >= chains) return;
    T* xc = x + c * n;
    for (int t = 0; t < n_sweeps; ++t) {
        long long base = ((long long)t * chains + c) * n;
        for (long long oi = 0; oi < n; ++oi) {
            long long i = order[oi];
            T f = h[i];
            for (long long j = 0; j < n; ++j) f += J[i * n + j] * xc[j];
            T p = sigmoid<T>(f);
            T ui = use_philox ? philox_uniform<T>(seed, offset + (unsigned long long)(base + i))
                              : u[base + i];
            xc[i] = ui < p ? T(1) : T(0);
        }
    }
}

// Explicit instantiations so that `nvcc -ptx` checks both dtypes (CuPy uses name_expressions).
template __global__ void sigmoid_bernoulli<float>(const float*, const float*, const float*, float*, float*, long long, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long);
template __global__ void sigmoid_bernoulli<double>(const double*, const double*, const double*, double*, double*, long long, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long);
template __global__ void bm_gibbs_sweep<float>(float*, const float*, const float*, const long long*, const float*, long long, long long, int, int, unsigned long long, unsigned long long);
template __global__ void bm_gibbs_sweep<double>(double*, const double*, const double*, const long long*, const double*, long long, long long, int, int, unsigned long long, unsigned long long);
