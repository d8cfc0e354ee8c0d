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
//
// Value checks ride on the same pass: a row is invalid when a weight is negative or NaN,
// its total is not finite and positive (an inf weight, an overflowing sum, an all-zero
// row), or its uniform lies outside [0, 1); for logits, a NaN or +inf logit or a row of
// -inf makes the total NaN. An invalid row's index goes to *status by atomicMin (the
// wrapper reads it once after the launch) and its output is not written.
#include "philox.cuh"
#include "status.cuh"

__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }

// Logit weight p = exp(z), z = (x - m) / tau, flushed to 0 for z <= log(smallest normal)
// rounded to T, exactly as the reference: the sums never see a subnormal, and every
// backend applies the same rule to the same z.
template <typename T> __device__ __forceinline__ T mn_log_tiny();
template <> __device__ __forceinline__ float mn_log_tiny<float>() { return -87.3365478515625f; }
template <> __device__ __forceinline__ double mn_log_tiny<double>() { return -708.39641853226408; }

// A NaN z (NaN or +inf logit, or a row of -inf) gives a NaN weight: the total's check.
template <typename T>
__device__ __forceinline__ T mn_exp(T x, T m, T tau) {
    const T z = (x - m) / tau;
    return z <= mn_log_tiny<T>() ? (T)0 : exp(z);
}

// Whether a row with this total and uniform is valid (no negative weight is checked apart).
template <typename T>
__device__ __forceinline__ bool mn_valid(T total, double u) {
    return total > (T)0 && total <= minigen_max<T>() && u >= 0.0 && u < 1.0;
}

template <typename T, bool LOGITS>
__device__ __forceinline__ T mn_val(const T* row, long long j, long long c, T m, T tau) {
    if (j >= c) return (T)0;
    if (LOGITS) return mn_exp<T>(row[j], m, tau);
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

// Serial search of one row; -1 when its total or uniform is invalid.
template <typename T, bool LOGITS>
__device__ long long mn_row(const T* row, long long c, double u, T m, T tau) {
    T total = (T)0;
    for (long long j = 0; j < c; j += 8) total = add_rn(total, mn_bsum<T, LOGITS>(row, j, c, m, tau));
    if (!mn_valid<T>(total, u)) return -1;
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
// Rows of up to MN_MAX_CHUNKS * 256 categories keep their running block sums in registers
// (one per block of 8, in the lane that owns the block); longer rows take the serial
// per-row path mn_row.
#define MN_MAX_CHUNKS 4
#define MN_WARPS_PER_BLOCK 8      // the wrapper launches blocks of 256 threads

// Vector type of 16 bytes: lane l of a warp loads elements VEC*l .. VEC*l+VEC-1 of each
// 32*VEC slice of a chunk, so one load instruction of the warp reads 512 contiguous bytes.
template <typename T> struct mn_vec;
template <> struct mn_vec<float> { typedef float4 type; static const int n = 4; };
template <> struct mn_vec<double> { typedef double2 type; static const int n = 2; };

// A chunk is 256 values = 32 blocks of 8. Lane l holds MN_NL slices of VEC values:
// value (s, q) of lane l is element 32*VEC*s + VEC*l + q of the chunk. Block b of the
// chunk lives in slice s = b / (32 / MN_LPB) and lanes MN_LPB*(b % (32/MN_LPB)) + 0..MN_LPB-1.
template <typename T>
struct mn_chunk {
    static const int VEC = mn_vec<T>::n;     // values per load (4 float, 2 double)
    static const int NL = 8 / VEC;           // loads (slices) per lane per chunk (2, 4)
    static const int LPB = 8 / VEC;          // lanes per block of 8 (2, 4)
    T v[NL][VEC];
};

// Load chunk `col0` of a row into registers; entries at or past c read as 0. `vec` says
// the row start is 16-byte aligned and c a multiple of VEC, so whole vectors can be read.
template <typename T>
__device__ __forceinline__ void mn_load_chunk(const T* __restrict__ row, long long c,
                                              long long col0, int lane, bool vec,
                                              mn_chunk<T>& ch) {
    typedef typename mn_vec<T>::type V;
    const int VEC = mn_chunk<T>::VEC;
#pragma unroll
    for (int s = 0; s < mn_chunk<T>::NL; ++s) {
        const long long j = col0 + 32LL * VEC * s + (long long)VEC * lane;
        if (vec && j + VEC <= c) {
            const V x = *reinterpret_cast<const V*>(row + j);
            const T* xs = reinterpret_cast<const T*>(&x);
#pragma unroll
            for (int q = 0; q < VEC; ++q) ch.v[s][q] = xs[q];
        } else {
#pragma unroll
            for (int q = 0; q < VEC; ++q) ch.v[s][q] = j + q < c ? row[j + q] : (T)0;
        }
    }
}

// Weights of a loaded chunk: the raw values (LOGITS = false) or mn_exp(x, m, tau), with
// the entries past c exactly 0.
template <typename T, bool LOGITS>
__device__ __forceinline__ void mn_weights(mn_chunk<T>& ch, long long c, long long col0,
                                           int lane, T m, T tau) {
    if (!LOGITS) return;  // padding already reads as 0
    const int VEC = mn_chunk<T>::VEC;
#pragma unroll
    for (int s = 0; s < mn_chunk<T>::NL; ++s)
#pragma unroll
        for (int q = 0; q < VEC; ++q) {
            const long long j = col0 + 32LL * VEC * s + (long long)VEC * lane + q;
            ch.v[s][q] = j < c ? mn_exp<T>(ch.v[s][q], m, tau) : (T)0;
        }
}

// Whether this lane's values of a loaded chunk include a negative weight (padding is 0).
template <typename T>
__device__ __forceinline__ bool mn_chunk_negative(const mn_chunk<T>& ch) {
    bool neg = false;
#pragma unroll
    for (int s = 0; s < mn_chunk<T>::NL; ++s)
#pragma unroll
        for (int q = 0; q < mn_chunk<T>::VEC; ++q) neg |= ch.v[s][q] < (T)0;
    return neg;
}

// Whether a row has a negative entry, by a warp (the long-row path).
template <typename T>
__device__ bool mn_row_negative_warp(const T* row, long long c, int lane) {
    bool neg = false;
    for (long long j = lane; j < c; j += 32) neg |= row[j] < (T)0;
    return __any_sync(MN_FULL_MASK, neg);
}

// Maximum of the valid entries of a chunk held by the warp.
template <typename T>
__device__ __forceinline__ T mn_chunk_max(const mn_chunk<T>& ch, long long c, long long col0,
                                          int lane) {
    const int VEC = mn_chunk<T>::VEC;
    T m = __shfl_sync(MN_FULL_MASK, ch.v[0][0], 0);  // element col0 of the row: always valid
#pragma unroll
    for (int s = 0; s < mn_chunk<T>::NL; ++s)
#pragma unroll
        for (int q = 0; q < VEC; ++q) {
            const long long j = col0 + 32LL * VEC * s + (long long)VEC * lane + q;
            m = (j < c && ch.v[s][q] > m) ? ch.v[s][q] : m;
        }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const T other = __shfl_xor_sync(MN_FULL_MASK, m, o);
        m = other > m ? other : m;
    }
    return m;
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

// Running block sums of one chunk: returns, in lane l, B of block l of the chunk (the
// running sum `run`, carried in from the previous chunks, plus the block sums 0..l), and
// advances `run` to the chunk's end (same value in every lane).
template <typename T>
__device__ __forceinline__ T mn_chunk_running_sums(const mn_chunk<T>& ch, int lane, T& run) {
    const int VEC = mn_chunk<T>::VEC, LPB = mn_chunk<T>::LPB, BPS = 32 / LPB;
    // block sum: the reference's tree ((v0+v1)+(v2+v3))+((v4+v5)+(v6+v7)). A lane holds
    // VEC consecutive values of its block; the lane-level partial trees are combined
    // across the LPB lanes of the block by xor shuffles (a + b == b + a exactly, so both
    // lanes of a pair hold the same sum).
    T bs[mn_chunk<T>::NL];
#pragma unroll
    for (int s = 0; s < mn_chunk<T>::NL; ++s) {
        T x = VEC == 4 ? add_rn(add_rn(ch.v[s][0], ch.v[s][1]), add_rn(ch.v[s][2], ch.v[s][3]))
                       : add_rn(ch.v[s][0], ch.v[s][1]);
#pragma unroll
        for (int o = 1; o < LPB; o <<= 1) x = add_rn(x, __shfl_xor_sync(MN_FULL_MASK, x, o));
        bs[s] = x;  // block BPS*s + lane/LPB
    }
    // B_b = B_{b-1} + bsum_b in block order: sequential, since float addition does not
    // associate (the padding blocks add exact zeros).
    T mine = (T)0;
#pragma unroll
    for (int s = 0; s < mn_chunk<T>::NL; ++s)
#pragma unroll
        for (int q = 0; q < BPS; ++q) {
            run = add_rn(run, __shfl_sync(MN_FULL_MASK, bs[s], q * LPB));
            mine = (s * BPS + q) == lane ? run : mine;
        }
    return mine;
}

// The 8 weights of block b (0..31) of a chunk held by the warp, in every lane.
template <typename T>
__device__ __forceinline__ void mn_block_from_chunk(const mn_chunk<T>& ch, int b, T w[8]) {
    const int VEC = mn_chunk<T>::VEC, LPB = mn_chunk<T>::LPB, BPS = 32 / LPB;
    const int s = b / BPS, lane0 = (b % BPS) * LPB;
#pragma unroll
    for (int q = 0; q < 8; ++q) {
        T x = (T)0;
#pragma unroll
        for (int ss = 0; ss < mn_chunk<T>::NL; ++ss) x = ss == s ? ch.v[ss][q % VEC] : x;
        w[q] = __shfl_sync(MN_FULL_MASK, x, lane0 + q / VEC);
    }
}

// Index inside a block: first q with f64(B_{b-1} + w_0 + ... + w_q) > t (left to right),
// else the last positive weight of the block (the reference's rule).
template <typename T>
__device__ __forceinline__ int mn_in_block(T prev, const T w[8], double t, long long j0,
                                           long long c) {
    T s = prev;
    int last_pos = 0;
#pragma unroll
    for (int q = 0; q < 8; ++q) {
        s = add_rn(s, w[q]);
        if ((double)s > t) return q;
    }
#pragma unroll
    for (int q = 0; q < 8; ++q) last_pos = (j0 + q < c && w[q] > (T)0) ? q : last_pos;
    return last_pos;
}

// One warp per row, grid-stride over rows (the wrapper launches a few blocks per SM, so
// each warp walks many rows). Each lane holds 8 values of every chunk of 256 in registers:
// the warp reads a chunk with 512-byte coalesced loads, and the next chunk (of this row
// or of the next one) is loaded before the current one is summed, so a load is always in
// flight while the sequential running sum is computed. Rows of up to 256 categories never
// touch memory again: the chosen block is shuffled out of the registers.
template <typename T, bool LOGITS>
__device__ __forceinline__ void mn_rows_warp(const T* __restrict__ x, const double* __restrict__ u,
                                             long long n, long long c, int use_seed,
                                             unsigned long long seed, unsigned long long offset,
                                             T tau, bool vec, long long* __restrict__ out,
                                             unsigned long long* __restrict__ status) {
    const int lane = threadIdx.x & 31;
    const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
    const long long first = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const long long nb = (c + 7) / 8;
    const int nch = (int)((nb + 31) / 32);
    if (first >= n) return;
    if (nch > MN_MAX_CHUNKS) {  // long rows: the serial path, one lane per row
        for (long long i = first; i < n; i += warps) {
            const T* row = x + i * c;
            const T m = LOGITS ? mn_row_max_warp<T>(row, c, lane) : (T)0;
            const double ui = use_seed ? (double)philox_uniform<T>(seed, offset + (unsigned long long)i) : u[i];
            const bool neg = !LOGITS && mn_row_negative_warp<T>(row, c, lane);
            if (lane == 0) {
                const long long k = neg ? -1 : mn_row<T, LOGITS>(row, c, ui, m, tau);
                if (k < 0) minigen_flag(status, i);
                else out[i] = k;
            }
        }
        return;
    }
    mn_chunk<T> nxt;
    mn_load_chunk<T>(x + first * c, c, 0, lane, vec, nxt);
    double my_u = 0.0;  // lane L: the uniform of the warp's row r0 + L (batches of 32 rows)
    long long r = 0;    // rows done by this warp
    for (long long i = first; i < n; i += warps, ++r) {
        const T* row = x + i * c;
        if ((r & 31) == 0) {
            const long long ii = i + lane * warps;
            my_u = ii < n ? (use_seed ? (double)philox_uniform<T>(seed, offset + (unsigned long long)ii)
                                      : u[ii])
                          : 0.0;
        }
        const double ui = __shfl_sync(MN_FULL_MASK, my_u, (int)(r & 31));
        T m = (T)0;
        if (LOGITS) m = nch == 1 ? mn_chunk_max<T>(nxt, c, 0, lane)
                                 : mn_row_max_warp<T>(row, c, lane);
        mn_chunk<T> cur;
        T run = (T)0, mine[MN_MAX_CHUNKS];
        bool neg = false;
#pragma unroll
        for (int k = 0; k < MN_MAX_CHUNKS; ++k) {
            mine[k] = (T)0;
            if (k < nch) {
                cur = nxt;
                // prefetch: the next chunk of this row, or the first chunk of the next row
                if (k + 1 < nch) mn_load_chunk<T>(row, c, 256LL * (k + 1), lane, vec, nxt);
                else if (i + warps < n) mn_load_chunk<T>(x + (i + warps) * c, c, 0, lane, vec, nxt);
                if (!LOGITS) neg |= mn_chunk_negative<T>(cur);
                mn_weights<T, LOGITS>(cur, c, 256LL * k, lane, m, tau);
                mine[k] = mn_chunk_running_sums<T>(cur, lane, run);
            }
        }
        // run is the row total T (the same in every lane): the checks are warp-uniform
        if (__any_sync(MN_FULL_MASK, neg) || !mn_valid<T>(run, ui)) {
            if (lane == 0) minigen_flag(status, i);
            continue;
        }
        const double t = __dmul_rn(ui, (double)run);
        long long k_out = -1;
#pragma unroll
        for (int k = 0; k < MN_MAX_CHUNKS; ++k) {
            // first block b with f64(B_b) > t (warp-uniform: the ballot is the same in every lane)
            const unsigned hit = k < nch ? __ballot_sync(MN_FULL_MASK, (double)mine[k] > t) : 0u;
            if (k_out < 0 && hit) {
                const int b = __ffs(hit) - 1;
                // B_{b-1}: lane b - 1 of this chunk, lane 31 of the previous one, or 0
                const T up = __shfl_sync(MN_FULL_MASK, mine[k], (b + 31) & 31);
                const T prev_chunk = k > 0 ? __shfl_sync(MN_FULL_MASK, mine[k > 0 ? k - 1 : 0], 31) : (T)0;
                const T prev = b > 0 ? up : prev_chunk;
                const long long j0 = 256LL * k + 8LL * b;
                T w[8];
                if (k == nch - 1) {
                    mn_block_from_chunk<T>(cur, b, w);  // still in registers
                } else {
#pragma unroll
                    for (int q = 0; q < 8; ++q) w[q] = mn_val<T, LOGITS>(row, j0 + q, c, m, tau);
                }
                k_out = j0 + mn_in_block<T>(prev, w, t, j0, c);
            }
        }
        if (k_out < 0) k_out = mn_last_positive<T, LOGITS>(row, 0, c, c, m, tau);
        if (lane == 0) out[i] = k_out;
    }
}

// ---- short rows (C <= 256): one thread per row ------------------------------------------------
// A warp per row spends ~200 instructions of shuffles and selects on every row's sequential
// running sum, whatever C is, so it stays instruction-bound (37% of a device copy at
// C = 256 on an H200, and the same time per row at C = 64). With one thread per row the
// same arithmetic is spread over 32 rows per instruction. The loads stay coalesced: a
// warp stages a tile of 32 rows x 32 columns through shared memory (each of its 32 loads
// reads 128 contiguous bytes of one row), and each lane then reads its own row's 32
// values from the tile (a row stride of 33 puts the 32 lanes on 32 different banks).
// Lane l keeps the running block sums B_0..B_31 of its row in registers, picks the block
// by comparing them with t, and reads that block's 8 weights again (from cache).
#define MN_ROW_WARPS 4      // warps per block of 128 threads (the wrapper's block size)
#define MN_ROW_TILE 32      // columns per staged tile = 4 blocks of 8

template <typename T>
__global__ void __launch_bounds__(32 * MN_ROW_WARPS) multinomial_threshold_rows_kernel(
        const T* __restrict__ w, const double* __restrict__ u, long long n, long long c,
        int use_seed, unsigned long long seed, unsigned long long offset,
        long long* __restrict__ out, unsigned long long* __restrict__ status) {
    __shared__ T tiles[MN_ROW_WARPS][32][MN_ROW_TILE + 1];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    T (*tile)[MN_ROW_TILE + 1] = tiles[wid];
    const long long groups = (n + 31) / 32;
    const long long gwarps = ((long long)gridDim.x * blockDim.x) >> 5;
    const int nb = (int)((c + 7) / 8);  // <= 32
    for (long long g = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; g < groups;
         g += gwarps) {
        const long long r0 = g * 32, row = r0 + lane;
        const bool valid = row < n;
        T B[32];  // B[b] = running sum of the block sums 0..b of this lane's row
        T run = (T)0;
        bool neg = false;
#pragma unroll
        for (int cc = 0; cc < 256 / MN_ROW_TILE; ++cc) {
            if (cc * MN_ROW_TILE < c) {  // warp-uniform
                const long long col = (long long)cc * MN_ROW_TILE + lane;
                // stage: load q reads row r0 + q, columns col0 .. col0 + 31 (128 bytes)
#pragma unroll 8
                for (int q = 0; q < 32; ++q)
                    tile[q][lane] = (r0 + q < n && col < c) ? w[(r0 + q) * c + col] : (T)0;
                __syncwarp();
#pragma unroll
                for (int k = 0; k < MN_ROW_TILE / 8; ++k) {
                    const T* v = &tile[lane][8 * k];
#pragma unroll
                    for (int q = 0; q < 8; ++q) neg |= v[q] < (T)0;
                    // block sum: the reference's tree ((v0+v1)+(v2+v3))+((v4+v5)+(v6+v7));
                    // the running sum in block order (padding blocks add exact zeros)
                    run = add_rn(run, add_rn(add_rn(add_rn(v[0], v[1]), add_rn(v[2], v[3])),
                                             add_rn(add_rn(v[4], v[5]), add_rn(v[6], v[7]))));
                    B[cc * (MN_ROW_TILE / 8) + k] = run;
                }
                __syncwarp();  // the next tile overwrites this one
            } else {
#pragma unroll
                for (int k = 0; k < MN_ROW_TILE / 8; ++k) B[cc * (MN_ROW_TILE / 8) + k] = run;
            }
        }
        if (!valid) continue;
        const double ui = use_seed ? (double)philox_uniform<T>(seed, offset + (unsigned long long)row)
                                   : u[row];
        if (neg || !mn_valid<T>(run, ui)) {
            minigen_flag(status, row);
            continue;
        }
        const double t = __dmul_rn(ui, (double)run);  // run is the row total T
        // first block b with f64(B_b) > t, and B_{b-1} (0 for b = 0); static register indices
        int b = -1;
        T prev = (T)0;
#pragma unroll
        for (int j = 31; j >= 0; --j) {  // descending, so the last hit kept is the first block
            const bool hit = j < nb && (double)B[j] > t;
            b = hit ? j : b;
            prev = hit ? (j > 0 ? B[j > 0 ? j - 1 : 0] : (T)0) : prev;
        }
        const T* rw = w + row * c;
        long long k_out;
        if (b >= 0) {
            const long long j0 = 8LL * b;
            T wb[8];
#pragma unroll
            for (int q = 0; q < 8; ++q) wb[q] = j0 + q < c ? rw[j0 + q] : (T)0;
            k_out = j0 + mn_in_block<T>(prev, wb, t, j0, c);
        } else {
            k_out = mn_last_positive<T, false>(rw, 0, c, c, (T)0, (T)1);
        }
        out[row] = k_out;
    }
}

// One warp per row, grid-stride over rows; blocks of 32 * MN_WARPS_PER_BLOCK threads.
// vec != 0: the wrapper checked that every row starts on a 16-byte boundary.
template <typename T>
__global__ void __launch_bounds__(32 * MN_WARPS_PER_BLOCK) multinomial_threshold_kernel(
        const T* w, const double* u, long long n, long long c, int use_seed,
        unsigned long long seed, unsigned long long offset, int vec, long long* out,
        unsigned long long* status) {
    mn_rows_warp<T, false>(w, u, n, c, use_seed, seed, offset, (T)1, vec != 0, out, status);
}

template <typename T>
__global__ void __launch_bounds__(32 * MN_WARPS_PER_BLOCK) categorical_from_logits_kernel(
        const T* x, const double* u, long long n, long long c, int use_seed,
        unsigned long long seed, unsigned long long offset, int vec, double temperature,
        long long* out, unsigned long long* status) {
    mn_rows_warp<T, true>(x, u, n, c, use_seed, seed, offset, (T)temperature, vec != 0, out,
                          status);
}

template __global__ void multinomial_threshold_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, int, long long*, unsigned long long*);
template __global__ void multinomial_threshold_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, int, long long*, unsigned long long*);
template __global__ void categorical_from_logits_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, int, double, long long*, unsigned long long*);
template __global__ void categorical_from_logits_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, int, double, long long*, unsigned long long*);
template __global__ void multinomial_threshold_rows_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, long long*, unsigned long long*);
template __global__ void multinomial_threshold_rows_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, long long*, unsigned long long*);
