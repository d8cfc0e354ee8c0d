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
// Philox block holding packed uniform number i (float32: 4 numbers a block, float64: 2).
template <typename T> __device__ __forceinline__ unsigned long long packed_block_id(unsigned long long offset, unsigned long long i);
template <> __device__ __forceinline__ unsigned long long packed_block_id<float>(unsigned long long offset, unsigned long long i) { return offset + i / 4; }
template <> __device__ __forceinline__ unsigned long long packed_block_id<double>(unsigned long long offset, unsigned long long i) { return offset + i / 2; }
// Packed uniform number i read from its (already computed) Philox block x.
template <typename T> __device__ __forceinline__ T packed_from_block(const philox4& x, unsigned long long i);
template <> __device__ __forceinline__ float packed_from_block<float>(const philox4& x, unsigned long long i) {
    const unsigned int k = (unsigned int)(i & 3ull);
    const unsigned int w = k == 0 ? x.x0 : (k == 1 ? x.x1 : (k == 2 ? x.x2 : x.x3));
    return (float)(w >> 8) * 5.9604644775390625e-08f;  // 2^-24
}
template <> __device__ __forceinline__ double packed_from_block<double>(const philox4& x, unsigned long long i) {
    const unsigned long long m = (i & 1ull) ? philox_u53(x.x2, x.x3) : philox_u53(x.x0, x.x1);
    return (double)m * 1.1102230246251565e-16;  // 2^-53
}

#define SB_PER_THREAD 4
// p = sigmoid(a + bias[col]); if sample != 0: s = (u < p), u[r, j] = u[r * u_stride + j]
// (explicit) or packed Philox uniform number base + r * u_stride + j (use_philox != 0).
// Each thread takes SB_PER_THREAD consecutive columns of one row: one 64-bit division per
// group, and consecutive stream numbers share their Philox block (4 float32 / 2 float64
// uniforms per block) instead of running the 10 rounds once per element. Grid-stride.
template <typename T>
__global__ void sigmoid_bernoulli(const T* __restrict__ a, const T* __restrict__ bias,
                                  const T* __restrict__ u, T* __restrict__ p, T* __restrict__ s,
                                  long long rows, long long cols, long long u_stride,
                                  int sample, int use_philox, unsigned long long seed,
                                  unsigned long long offset, unsigned long long base) {
    const long long groups = (cols + SB_PER_THREAD - 1) / SB_PER_THREAD;
    const long long n = rows * groups;
    for (long long g = blockIdx.x * (long long)blockDim.x + threadIdx.x; g < n;
         g += (long long)gridDim.x * blockDim.x) {
        const long long r = g / groups, j0 = (g - r * groups) * SB_PER_THREAD;
        philox4 blk;
        unsigned long long blk_id = ~0ull;  // no block computed yet
#pragma unroll
        for (int q = 0; q < SB_PER_THREAD; ++q) {
            const long long j = j0 + q;
            if (j >= cols) break;
            const long long i = r * cols + j;
            const T pj = sigmoid<T>(a[i] + bias[j]);
            p[i] = pj;
            if (sample) {
                T uj;
                if (use_philox) {
                    const unsigned long long num = base + (unsigned long long)(r * u_stride + j);
                    const unsigned long long id = packed_block_id<T>(offset, num);
                    if (id != blk_id) {
                        blk = philox_block(seed, id);
                        blk_id = id;
                    }
                    uj = packed_from_block<T>(blk, num);
                } else {
                    uj = u[r * u_stride + j];
                }
                s[i] = uj < pj ? T(1) : T(0);
            }
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
