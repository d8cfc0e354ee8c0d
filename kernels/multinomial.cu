// Multinomial thresholding: one thread per row, the blocked summation order of
// minigen/kernels/reference/multinomial.py (block tree sums of 8, running block sums,
// float64 comparison against u * total), so results equal the reference exactly.
// Templates over T in {float, double}; compiled through name_expressions.
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

template <typename T>
__device__ __forceinline__ double mn_uniform(const double* u, int use_seed, unsigned long long seed,
                                             unsigned long long offset, long long i) {
    if (!use_seed) return u[i];
    return (double)philox_uniform<T>(seed, offset + (unsigned long long)i);
}

template <typename T>
__global__ void multinomial_threshold_kernel(const T* w, const double* u, long long n, long long c,
                                             int use_seed, unsigned long long seed,
                                             unsigned long long offset, long long* out) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const double ui = mn_uniform<T>(u, use_seed, seed, offset, i);
    out[i] = mn_row<T, false>(w + i * c, c, ui, (T)0, (T)1);
}

template <typename T>
__global__ void categorical_from_logits_kernel(const T* x, const double* u, long long n, long long c,
                                               int use_seed, unsigned long long seed,
                                               unsigned long long offset, double temperature,
                                               long long* out) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const T* row = x + i * c;
    T m = row[0];
    for (long long j = 1; j < c; ++j)
        if (row[j] > m) m = row[j];
    const double ui = mn_uniform<T>(u, use_seed, seed, offset, i);
    out[i] = mn_row<T, true>(row, c, ui, m, (T)temperature);
}

template __global__ void multinomial_threshold_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, long long*);
template __global__ void multinomial_threshold_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, long long*);
template __global__ void categorical_from_logits_kernel<float>(const float*, const double*, long long, long long, int, unsigned long long, unsigned long long, double, long long*);
template __global__ void categorical_from_logits_kernel<double>(const double*, const double*, long long, long long, int, unsigned long long, unsigned long long, double, long long*);
