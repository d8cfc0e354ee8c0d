// Gibbs kernels (see minigen/kernels/reference/gibbs.py for the specification).
// Templated on T = float | double; instantiated through CuPy name_expressions.
// gemm_sigmoid_bernoulli fuses a matrix product with sigmoid + Bernoulli (the RBM
// conditionals); sigmoid_bernoulli applies them after a cuBLAS product.
// Value checks (status.cuh): a non-finite pre-activation (a NaN or inf in W or a bias
// always makes one), a uniform outside [0, 1), an entry of v outside [0, 1] (read by the
// first product, check_a != 0), a Boltzmann state that is not 0/1: flagged in a status
// word that the wrapper reads once, after the step's last launch.
#include "philox.cuh"
#include "status.cuh"

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

// The uniform for entry (r, j): u[r * u_stride + j] (explicit), or packed Philox number
// base + r * u_stride + j, reusing `blk` when it already holds that number's block
// (blk_id = ~0 before the first), so consecutive columns share one 10-round block.
template <typename T>
__device__ __forceinline__ T bernoulli_uniform(const T* __restrict__ u, long long r, long long j,
                                               long long u_stride, int use_philox,
                                               unsigned long long seed, unsigned long long offset,
                                               unsigned long long base, philox4& blk,
                                               unsigned long long& blk_id) {
    if (!use_philox) return u[r * u_stride + j];
    const unsigned long long num = base + (unsigned long long)(r * u_stride + j);
    const unsigned long long id = packed_block_id<T>(offset, num);
    if (id != blk_id) {
        blk = philox_block(seed, id);
        blk_id = id;
    }
    return packed_from_block<T>(blk, num);
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
                                  unsigned long long offset, unsigned long long base,
                                  unsigned long long* status) {
    const long long groups = (cols + SB_PER_THREAD - 1) / SB_PER_THREAD;
    const long long n = rows * groups;
    for (long long g = blockIdx.x * (long long)blockDim.x + threadIdx.x; g < n;
         g += (long long)gridDim.x * blockDim.x) {
        const long long r = g / groups, j0 = (g - r * groups) * SB_PER_THREAD;
        philox4 blk;
        unsigned long long blk_id = ~0ull;  // no block computed yet
        bool bad = false;
#pragma unroll
        for (int q = 0; q < SB_PER_THREAD; ++q) {
            const long long j = j0 + q;
            if (j >= cols) break;
            const long long i = r * cols + j;
            const T z = a[i] + bias[j];
            const T pj = sigmoid<T>(z);
            p[i] = pj;
            bad = bad || !minigen_finite<T>(z);
            if (sample) {
                const T uj = bernoulli_uniform<T>(u, r, j, u_stride, use_philox, seed, offset,
                                                  base, blk, blk_id);
                s[i] = uj < pj ? T(1) : T(0);
                bad = bad || !(uj >= T(0) && uj < T(1));
            }
        }
        if (bad) minigen_flag(status, r);
    }
}

// ---- fused product + sigmoid + Bernoulli ----------------------------------------------------
// p = sigmoid(A W + bias) (or A W^T + bias), s = (u < p), in one kernel: the product's
// epilogue applies the bias, the sigmoid and the draw while the tile is in registers.
// At the RBM sizes people train (784 x 500, batch 1000) a k=1 step is a few tens of
// microseconds of GPU work, and a product through cuBLAS followed by a separate
// sigmoid_bernoulli launch spent as much time in launches and in under-filled cuBLAS
// tiles as in arithmetic (two cuBLAS products + two launches were 2x the products alone
// on an H200). Here: 64 x 64 output tiles (a 784 x 500 x 1000 product is 128 of them, one
// per SM), 256 threads each computing a 4 x 4 micro-tile by fused multiply-adds in k order,
// the next 16-wide k slab loaded into registers while the current one is multiplied.
// A is (M, K) row-major; W is (K, N) row-major, or (N, K) row-major used transposed
// (TRANS_W); p, s are (M, N); u and the Philox stream are indexed like sigmoid_bernoulli.
#define GB_BM 64
#define GB_BN 64
#define GB_BK 16
#define GB_PAD 4  // keeps rows 16-byte aligned and spreads the transposing stores over banks

template <typename T, bool TRANS_W>
__global__ void __launch_bounds__(256) gemm_sigmoid_bernoulli(
        const T* __restrict__ A, const T* __restrict__ W, const T* __restrict__ bias,
        const T* __restrict__ u, T* __restrict__ p, T* __restrict__ s, long long M, long long N,
        long long K, long long u_stride, int sample, int use_philox, unsigned long long seed,
        unsigned long long offset, unsigned long long base, int check_a,
        unsigned long long* status) {
    __shared__ __align__(16) T As[GB_BK][GB_BM + GB_PAD];  // As[k][m] = A[m0 + m, k0 + k]
    __shared__ __align__(16) T Bs[GB_BK][GB_BN + GB_PAD];  // Bs[k][n] = W[k0 + k, n0 + n]
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const long long m0 = (long long)blockIdx.y * GB_BM, n0 = (long long)blockIdx.x * GB_BN;
    // global -> register staging: A (and W^T) as 64 rows x 16 k, 4 consecutive k per
    // thread; W as 16 k x 64 columns, 4 consecutive columns per thread
    const int ar = tid >> 2, ac = (tid & 3) * 4;
    const int wr = tid >> 4, wc = (tid & 15) * 4;
    T ra[4], rw[4];
    bool bad = false;  // a value of A outside [0, 1] (check_a), a bad z or u (epilogue)
    auto load = [&](long long k0) {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const long long am = m0 + ar, ak = k0 + ac + q;
            ra[q] = (am < M && ak < K) ? A[am * K + ak] : (T)0;
            // each A entry is loaded by the blocks of every column tile: check it once
            if (check_a && blockIdx.x == 0) bad = bad || !(ra[q] >= (T)0 && ra[q] <= (T)1);
            if (TRANS_W) {
                const long long wn = n0 + ar, wk = k0 + ac + q;
                rw[q] = (wn < N && wk < K) ? W[wn * K + wk] : (T)0;
            } else {
                const long long wk = k0 + wr, wn = n0 + wc + q;
                rw[q] = (wk < K && wn < N) ? W[wk * N + wn] : (T)0;
            }
        }
    };
    T acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = (T)0;
    load(0);
    for (long long k0 = 0; k0 < K; k0 += GB_BK) {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            As[ac + q][ar] = ra[q];
            if (TRANS_W) Bs[ac + q][ar] = rw[q];
            else Bs[wr][wc + q] = rw[q];
        }
        __syncthreads();
        if (k0 + GB_BK < K) load(k0 + GB_BK);  // in flight while this slab is multiplied
#pragma unroll
        for (int kk = 0; kk < GB_BK; ++kk) {
            T a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[kk][ty * 4 + i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx * 4 + j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    // epilogue: p = sigmoid(acc + bias), s = u < p; consecutive columns share Philox blocks
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const long long r = m0 + ty * 4 + i;
        if (r >= M) break;
        philox4 blk;
        unsigned long long blk_id = ~0ull;  // no block computed yet
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const long long col = n0 + tx * 4 + j;
            if (col >= N) break;
            const T z = acc[i][j] + bias[col];
            const T pj = sigmoid<T>(z);
            p[r * N + col] = pj;
            bad = bad || !minigen_finite<T>(z);
            if (sample) {
                const T uj = bernoulli_uniform<T>(u, r, col, u_stride, use_philox, seed, offset,
                                                  base, blk, blk_id);
                s[r * N + col] = uj < pj ? T(1) : T(0);
                bad = bad || !(uj >= T(0) && uj < T(1));
            }
        }
    }
    if (bad) minigen_flag(status, m0);
}

// Sequential single-site sweeps, one thread per chain (x is (chains, n), updated in place).
// Site i of chain c in sweep t uses u[(t * chains + c) * n + i] (explicit) or that Philox
// position plus offset.
template <typename T>
__global__ void bm_gibbs_sweep(T* __restrict__ x, const T* __restrict__ J,
                               const T* __restrict__ h, const long long* __restrict__ order,
                               const T* __restrict__ u, long long chains, long long n,
                               int n_sweeps, int use_philox, unsigned long long seed,
                               unsigned long long offset, unsigned long long* status) {
    long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (c >= chains) return;
    T* xc = x + c * n;
    bool bad = false;
    for (long long j = 0; j < n; ++j) bad = bad || !(xc[j] == T(0) || xc[j] == T(1));
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
            bad = bad || !(ui >= T(0) && ui < T(1));
        }
    }
    if (bad) minigen_flag(status, c);
}

// Explicit instantiations so that `nvcc -ptx` checks both dtypes (CuPy uses name_expressions).
template __global__ void sigmoid_bernoulli<float>(const float*, const float*, const float*, float*, float*, long long, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void sigmoid_bernoulli<double>(const double*, const double*, const double*, double*, double*, long long, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void bm_gibbs_sweep<float>(float*, const float*, const float*, const long long*, const float*, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void bm_gibbs_sweep<double>(double*, const double*, const double*, const long long*, const double*, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void gemm_sigmoid_bernoulli<float, false>(const float*, const float*, const float*, const float*, float*, float*, long long, long long, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long, int, unsigned long long*);
template __global__ void gemm_sigmoid_bernoulli<float, true>(const float*, const float*, const float*, const float*, float*, float*, long long, long long, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long, int, unsigned long long*);
template __global__ void gemm_sigmoid_bernoulli<double, false>(const double*, const double*, const double*, const double*, double*, double*, long long, long long, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long, int, unsigned long long*);
template __global__ void gemm_sigmoid_bernoulli<double, true>(const double*, const double*, const double*, const double*, double*, double*, long long, long long, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long, int, unsigned long long*);
