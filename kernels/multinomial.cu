// Multinomial thresholding: one warp per row, the blocked summation order of
// minigen/kernels/reference/multinomial.py (block tree sums of 8, running block sums,
// float64 comparison against u * total), so results equal the reference exactly.
// Templates over T in {float, double}; compiled through name_expressions.
//
// Why a warp per row: with one thread per row, the 32 threads of a warp read 32 different
// rows, so every load instruction touches 32 cache lines and the kernel reached 16% of
// the bandwidth of a device copy on an H200. A warp reads 32 consecutive blocks of 8 of
// one row (1 KB, coalesced); the running block sums stay sequential, as the reference
// specifies, through 32 warp shuffles per 256 categories.
#include "philox.cuh"

__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }

template <typename T, bool LOGITS>
__device__ __forceinline__ T mn_val(const T* row, long long j, long long c, T m, T tau) {
    if (j >= c) return (T)0;
    if (LOGITS) return exp((row[j] - m) / tau);
    return row[j];
}

template <typename T, bool LOGITS>
__device__ __forceinline__ T mn_bsum(const T* row, long long j, long long c, T m, T tau) {
    const T v0 = mn_val<T, LOGITS>(row, j, c, m, tau), v1 = mn_val<T, LOGITS>(row, j + 1, c, m, tau);
    const T v2 = mn_val<T, LOGITS>(row, j + 2, c, m, tau), v3 = mn_val<T, LOGITS>(row, j + 3, c, m, tau);
    const T v4 = mn_val<T, LOGITS>(row, j + 4, c, m, tau), v5 = mn_val<T, LOGITS>(row, j + 5, c, m, tau);
    const T v6 = mn_val<T, LOGITS>(row, j + 6, c, m, tau), v7 = mn_val<T, LOGITS>(row, j + 7, c, m, tau);
    // __fadd_rn/__dadd_rn keep the exact tree order (no FMA contraction or reassociation).
    return add_rn(add_rn(add_rn(v0, v1), add_rn(v2, v3)), add_rn(add_rn(v4, v5), add_rn(v6, v7)));
}

template <typename T, bool LOGITS>
__device__ long long mn_last_positive(const T* row, long long lo, long long hi, long long c, T m, T tau) {
    for (long long j = (hi < c ? hi : c) - 1; j >= lo; --j)
        if (mn_val<T, LOGITS>(row, j, c, m, tau) > (T)0) return j;
    return lo;
}

template <typename T, bool LOGITS>
__device__ long long mn_row(const T* row, long long c, double u, T m, T tau) {
    T total = (T)0;
    for (long long j = 0; j < c; j += 8) total = add_rn(total, mn_bsum<T, LOGITS>(row, j, c, m, tau));
    const double t = __dmul_rn(u, (double)total);
    T cum = (T)0;
    for (long long j = 0; j < c; j += 8) {
        const T nxt = add_rn(cum, mn_bsum<T, LOGITS>(row, j, c, m, tau));
        if ((double)nxt > t) {
            T s = cum;
            const long long hi = (j + 8 < c) ? j + 8 : c;
            for (long long k = j; k < hi; ++k) {
                s = add_rn(s, mn_val<T, LOGITS>(row, k, c, m, tau));
                if ((double)s > t) return k;
            }
            return mn_last_positive<T, LOGITS>(row, j, j + 8, c, m, tau);
        }
        cum = nxt;
    }
    return mn_last_positive<T, LOGITS>(row, 0, c, c, m, tau);
}


#define MN_FULL_MASK 0xffffffffu
// Rows of up to MN_MAX_CHUNKS * 256 categories keep their running block sums in shared
// memory (one per block of 8); longer rows take the serial per-row path.
#define MN_MAX_CHUNKS 8
#define MN_WARPS_PER_BLOCK 8      // the wrapper launches blocks of 256 threads
#define MN_STAGE (256 + 32)       // one warp's chunk of 256 values, skewed (see mn_slot)
#define MN_WARP_SMEM (MN_STAGE + 32 * MN_MAX_CHUNKS)

// Shared-memory slot of value e (0..255) of a chunk: e + e / 8. Lane l reads the 8 values
// of its block at 9 l + q, so the 32 lanes hit 32 different banks.
__device__ __forceinline__ int mn_slot(int e) { return e + (e >> 3); }

// Index of row `row` (length c) for the threshold t = u * total, computed by a whole warp;
// every lane returns the same index. `smem` is this warp's MN_WARP_SMEM values of shared
// memory: a staging area for one chunk, then the running block sums B_b.
template <typename T, bool LOGITS>
__device__ long long mn_row_warp(const T* row, long long c, double u, T m, T tau, int lane,
                                 T* smem) {
    const long long nb = (c + 7) / 8;          // blocks of 8 (the last zero-padded)
    const int nch = (int)((nb + 31) / 32);     // chunks of 32 blocks: lane l owns block 32 ch + l
    if (nch > MN_MAX_CHUNKS) return mn_row<T, LOGITS>(row, c, u, m, tau);
    T* stage = smem;
    T* B = smem + MN_STAGE;    // B[b] = sum of the block sums 0..b, in block order
    T run = (T)0;              // the running sum (same in every lane)
#pragma unroll 1
    for (int ch = 0; ch < nch; ++ch) {
        // Stage the chunk through shared memory: 8 loads of 128 contiguous bytes per
        // warp (lane l reading its own 8 consecutive values straight from global
        // memory made every load touch 32 sectors and reached 25% of a copy).
        const long long col0 = 256LL * ch;
#pragma unroll
        for (int q = 0; q < 8; ++q) {
            const long long j = col0 + 32 * q + lane;
            stage[mn_slot(32 * q + lane)] = j < c ? row[j] : (T)0;
        }
        __syncwarp();
        T v[8];
#pragma unroll
        for (int q = 0; q < 8; ++q) {
            const T raw = stage[9 * lane + q];
            v[q] = col0 + 8 * lane + q < c ? (LOGITS ? exp((raw - m) / tau) : raw) : (T)0;
        }
        __syncwarp();  // the next chunk overwrites the stage
        // block sum: the reference's tree ((v0+v1)+(v2+v3))+((v4+v5)+(v6+v7))
        const T bs = add_rn(add_rn(add_rn(v[0], v[1]), add_rn(v[2], v[3])),
                            add_rn(add_rn(v[4], v[5]), add_rn(v[6], v[7])));
        // B_b = B_{b-1} + bsum_b in block order: sequential, since float addition does
        // not associate (the padding blocks add exact zeros).
        T mine = (T)0;
#pragma unroll
        for (int j = 0; j < 32; ++j) {
            run = add_rn(run, __shfl_sync(MN_FULL_MASK, bs, j));
            mine = j == lane ? run : mine;
        }
        B[32 * ch + lane] = mine;
    }
    __syncwarp();
    const double t = __dmul_rn(u, (double)run);  // run is the row total T
#pragma unroll 1
    for (int ch = 0; ch < nch; ++ch) {
        // first block b with f64(B_b) > t (warp-uniform: hit is the same in every lane)
        const unsigned hit = __ballot_sync(MN_FULL_MASK, (double)B[32 * ch + lane] > t);
        if (hit) {
            const int b = 32 * ch + __ffs(hit) - 1;
            T s = b > 0 ? B[b - 1] : (T)0;   // B_{b-1}, then add the block's values in order
            const long long j0 = 8LL * b, hi = j0 + 8 < c ? j0 + 8 : c;
            for (long long k = j0; k < hi; ++k) {
                s = add_rn(s, mn_val<T, LOGITS>(row, k, c, m, tau));
                if ((double)s > t) return k;
            }
            return mn_last_positive<T, LOGITS>(row, j0, j0 + 8, c, m, tau);
        }
    }
    return mn_last_positive<T, LOGITS>(row, 0, c, c, m, tau);
}

// This warp's MN_WARP_SMEM values of T in a block-wide shared buffer.
template <typename T>
__device__ __forceinline__ T* mn_warp_smem() {
    __shared__ double buf[MN_WARPS_PER_BLOCK * MN_WARP_SMEM];  // sized for double, used as T
    return reinterpret_cast<T*>(buf) + (threadIdx.x >> 5) * MN_WARP_SMEM;
}

// Maximum of a row, by a warp (exact in any order).
template <typename T>
__device__ T mn_row_max_warp(const T* row, long long c, int lane) {
    T m = row[0];
    for (long long j = lane; j < c; j += 32) m = row[j] > m ? row[j] : m;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const T other = __shfl_xor_sync(MN_FULL_MASK, m, o);
        m = other > m ? other : m;
    }
    return m;
}

template <typename T>
__device__ __forceinline__ double mn_uniform(const double* u, int use_seed, unsigned long long seed,
                                             unsigned long long offset, long long i) {
    if (!use_seed) return u[i];
    return (double)philox_uniform<T>(seed, offset + (unsigned long long)i);
}

// One warp per row, grid-stride over rows; blocks of 32 * MN_WARPS_PER_BLOCK threads.
template <typename T>
__global__ void __launch_bounds__(32 * MN_WARPS_PER_BLOCK, 4) multinomial_threshold_kernel(const T* w, const double* u, long long n, long long c,
                                             int use_seed, unsigned long long seed,
                                             unsigned long long offset, long long* out) {
    const int lane = threadIdx.x & 31;
    const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; i < n; i += warps) {
        const double ui = mn_uniform<T>(u, use_seed, seed, offset, i);
        const long long k = mn_row_warp<T, false>(w + i * c, c, ui, (T)0, (T)1, lane,
                                                  mn_warp_smem<T>());
        if (lane == 0) out[i] = k;
    }
}

template <typename T>
__global__ void __launch_bounds__(32 * MN_WARPS_PER_BLOCK, 4) categorical_from_logits_kernel(const T* x, const double* u, long long n, long long c,
                                               int use_seed, unsigned long long seed,
                                               unsigned long long offset, double temperature,
                                               long long* out) {
    const int lane = threadIdx.x & 31;
    const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; i < n; i += warps) {
        const T* row = x + i * c;
        const T m = mn_row_max_warp<T>(row, c, lane);
        const double ui = mn_uniform<T>(u, use_seed, seed, offset, i);
        const long long k = mn_row_warp<T, true>(row, c, ui, m, (T)temperature, lane,
                                                 mn_warp_smem<T>());
        if (lane == 0) out[i] = k;
    }
}

template __global__ void multinomial_threshold_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, long long*);
template __global__ void multinomial_threshold_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, long long*);
template __global__ void categorical_from_logits_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, double, long long*);
template __global__ void categorical_from_logits_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, double, long long*);
