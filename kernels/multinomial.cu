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
// Rows of up to MN_MAX_CHUNKS * 256 categories keep their running block sums in
// registers (one per lane and chunk of 32 blocks); longer rows take the serial path.
#define MN_MAX_CHUNKS 8

// Index of row `row` (length c) for the threshold t = u * total, computed by a whole warp;
// every lane returns the same index.
template <typename T, bool LOGITS>
__device__ long long mn_row_warp(const T* row, long long c, double u, T m, T tau, int lane) {
    const long long nb = (c + 7) / 8;          // blocks of 8 (the last zero-padded)
    const long long nch = (nb + 31) / 32;      // chunks of 32 blocks: lane l owns block 32 ch + l
    if (nch > MN_MAX_CHUNKS) return mn_row<T, LOGITS>(row, c, u, m, tau);
    T run = (T)0;              // B_b, the running sum of block sums (same in every lane)
    T mine[MN_MAX_CHUNKS];     // B of this lane's block in each chunk
#pragma unroll
    for (int ch = 0; ch < MN_MAX_CHUNKS; ++ch) {
        mine[ch] = (T)0;
        if (ch < nch) {
            const long long b = 32LL * ch + lane;
            const T bs = b < nb ? mn_bsum<T, LOGITS>(row, 8 * b, c, m, tau) : (T)0;
            // B_b = B_{b-1} + bsum_b in block order: sequential, since float addition
            // does not associate (the padding blocks add exact zeros).
#pragma unroll
            for (int j = 0; j < 32; ++j) {
                run = add_rn(run, __shfl_sync(MN_FULL_MASK, bs, j));
                if (j == lane) mine[ch] = run;
            }
        }
    }
    const double t = __dmul_rn(u, (double)run);  // run is the row total T
#pragma unroll
    for (int ch = 0; ch < MN_MAX_CHUNKS; ++ch) {
        if (ch < nch) {
            // first block b with f64(B_b) > t (warp-uniform branch: hit is the same in every lane)
            const unsigned hit = __ballot_sync(MN_FULL_MASK, (double)mine[ch] > t);
            const T prev_lane = __shfl_sync(MN_FULL_MASK, mine[ch], (lane + 31) & 31);
            const T prev_chunk = __shfl_sync(MN_FULL_MASK, mine[ch > 0 ? ch - 1 : 0], 31);
            if (hit) {
                const int lb = __ffs(hit) - 1;
                // B_{b-1}: the previous lane's sum, or the previous chunk's last, or 0
                T s = __shfl_sync(MN_FULL_MASK, prev_lane, lb);
                if (lb == 0) s = ch > 0 ? prev_chunk : (T)0;
                const long long j0 = 8 * (32LL * ch + lb), hi = j0 + 8 < c ? j0 + 8 : c;
                for (long long k = j0; k < hi; ++k) {
                    s = add_rn(s, mn_val<T, LOGITS>(row, k, c, m, tau));
                    if ((double)s > t) return k;
                }
                return mn_last_positive<T, LOGITS>(row, j0, j0 + 8, c, m, tau);
            }
        }
    }
    return mn_last_positive<T, LOGITS>(row, 0, c, c, m, tau);
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

// One warp per row, grid-stride over rows; blockDim.x is a multiple of 32.
template <typename T>
__global__ void multinomial_threshold_kernel(const T* w, const double* u, long long n, long long c,
                                             int use_seed, unsigned long long seed,
                                             unsigned long long offset, long long* out) {
    const int lane = threadIdx.x & 31;
    const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; i < n; i += warps) {
        const double ui = mn_uniform<T>(u, use_seed, seed, offset, i);
        const long long k = mn_row_warp<T, false>(w + i * c, c, ui, (T)0, (T)1, lane);
        if (lane == 0) out[i] = k;
    }
}

template <typename T>
__global__ void categorical_from_logits_kernel(const T* x, const double* u, long long n, long long c,
                                               int use_seed, unsigned long long seed,
                                               unsigned long long offset, double temperature,
                                               long long* out) {
    const int lane = threadIdx.x & 31;
    const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; i < n; i += warps) {
        const T* row = x + i * c;
        const T m = mn_row_max_warp<T>(row, c, lane);
        const double ui = mn_uniform<T>(u, use_seed, seed, offset, i);
        const long long k = mn_row_warp<T, true>(row, c, ui, m, (T)temperature, lane);
        if (lane == 0) out[i] = k;
    }
}

template __global__ void multinomial_threshold_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, long long*);
template __global__ void multinomial_threshold_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, long long*);
template __global__ void categorical_from_logits_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, double, long long*);
template __global__ void categorical_from_logits_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, double, long long*);
