// Coupling-layer kernels (RealNVP affine, Glow ActNorm). Contract: kernels/README.md,
// specification: minigen/kernels/reference/coupling.py.
//
// Every array is C-contiguous; x2, s, t, gy, y2 are (N, D) rows of T (float or double);
// logdet and glogdet are (N,) double. Log-dets are accumulated in double for both T.
// Instantiated from Python through name_expressions, e.g. "affine_coupling_fwd<float>".
//
// Value checks (status.cuh): each kernel flags the first row with a non-finite output
// (a NaN or inf input always makes one, except an infinite s in the backward, which is
// tested too); the wrapper reads the status word once, and only then looks at the
// inputs (a bad one is an error; an overflow of finite inputs is recomputed by the
// reference, whose products with a zero factor are exactly zero).
#include "status.cuh"

namespace minigen_coupling {

__device__ __forceinline__ float exp_t(float x) { return expf(x); }
__device__ __forceinline__ double exp_t(double x) { return exp(x); }

// Block-wide sum of one double per thread; blockDim.x is a power of two <= 1024.
__device__ double block_sum(double v) {
    __shared__ double buf[1024];
    buf[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half) buf[threadIdx.x] += buf[threadIdx.x + half];
        __syncthreads();
    }
    return buf[0];
}

}  // namespace minigen_coupling

// One block per row (grid-stride over rows): y2 = x2 * exp(sign * s) + t (forward, sign = +1)
// or y2 = (x2 - t) * exp(-s) (inverse); logdet[row] = sign * sum_j s[row, j] in double.
template <typename T>
__global__ void affine_coupling_fwd(const T* __restrict__ x2, const T* __restrict__ s,
                                    const T* __restrict__ t, T* __restrict__ y2,
                                    double* __restrict__ logdet, long long n, long long d,
                                    int inverse, unsigned long long* status) {
    using namespace minigen_coupling;
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const long long base = row * d;
        double acc = 0.0;
        bool bad = false;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            const T sj = s[base + j];
            acc += (double)sj;
            T y;
            if (inverse) {
                y = (x2[base + j] - t[base + j]) * exp_t(-sj);
            } else {
                y = x2[base + j] * exp_t(sj) + t[base + j];
            }
            y2[base + j] = y;
            bad = bad || !minigen_finite<T>(y);
        }
        const double total = block_sum(acc);
        if (threadIdx.x == 0) logdet[row] = inverse ? -total : total;
        bad = __syncthreads_or(bad || !minigen_finite<double>(total));  // also: buf reused
        if (bad && threadIdx.x == 0) minigen_flag(status, row);
    }
}

// Elementwise over N*D (grid-stride): gradients of <gy, y2> + <glogdet, logdet>.
template <typename T>
__global__ void affine_coupling_bwd(const T* __restrict__ x2, const T* __restrict__ s,
                                    const T* __restrict__ t, const T* __restrict__ gy,
                                    const double* __restrict__ glogdet, T* __restrict__ gx2,
                                    T* __restrict__ gs, T* __restrict__ gt, long long n,
                                    long long d, int inverse, unsigned long long* status) {
    using namespace minigen_coupling;
    const long long total = n * d;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const T gl = (T)glogdet[i / d];
        T o;
        if (inverse) {
            const T g = gy[i] * exp_t(-s[i]);
            gx2[i] = g;
            o = -(g * (x2[i] - t[i])) - gl;
            gt[i] = -g;
        } else {
            const T g = gy[i] * exp_t(s[i]);
            gx2[i] = g;
            o = g * x2[i] + gl;
            gt[i] = gy[i];
        }
        gs[i] = o;  // a non-finite g shows in o; an infinite s may not (e^-inf = 0)
        if (!minigen_finite<T>(o) || !minigen_finite<T>(s[i])) minigen_flag(status, i / d);
    }
}

// NICE coupling: y2 = x2 + sign * t (sign = +-1), elementwise, grid-stride.
template <typename T>
__global__ void additive_coupling_fwd(const T* __restrict__ x2, const T* __restrict__ t,
                                      T* __restrict__ y2, long long n, long long d, T sign,
                                      unsigned long long* status) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n * d;
         i += (long long)gridDim.x * blockDim.x) {
        const T y = x2[i] + sign * t[i];
        y2[i] = y;
        if (!minigen_finite<T>(y)) minigen_flag(status, i / d);
    }
}

// Its backward: a = gy, b = sign * gy.
template <typename T>
__global__ void additive_coupling_bwd(const T* __restrict__ gy, T* __restrict__ a,
                                      T* __restrict__ b, long long n, long long d, T sign,
                                      unsigned long long* status) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n * d;
         i += (long long)gridDim.x * blockDim.x) {
        const T g = gy[i];
        a[i] = g;
        b[i] = sign * g;
        if (!minigen_finite<T>(g)) minigen_flag(status, i / d);
    }
}

// 16-byte vector types: float4 / double2.
template <typename T> struct cp_vec;
template <> struct cp_vec<float> { typedef float4 type; static const int n = 4; };
template <> struct cp_vec<double> { typedef double2 type; static const int n = 2; };

#define ACTNORM_UNROLL 4  // 16-byte vectors in flight per thread (the wrapper sizes grid.x)

// ActNorm on x (N, C, L): y = (x + loc[c]) * exp(log_scale[c]) (forward) or
// y = x * exp(-log_scale[c]) - loc[c] (inverse). The log-det is L * sum(log_scale), on the
// device, in the wrapper.
// 2-D launch: blockIdx.y strides over the N*C rows (one channel each, so the channel index
// and exp are computed once per row, not with a 64-bit division per element: that made the
// elementwise version reach 24% of a device copy on an H200), blockIdx.x over the L
// contiguous elements of a row. With vec != 0 (rows 16-byte aligned, L a multiple of the
// vector width) each thread loads ACTNORM_UNROLL 16-byte vectors before it stores any, so
// that enough bytes are in flight to cover the memory latency (one scalar load per
// iteration reached 44% of a copy).
template <typename T>
__global__ void actnorm_fwd(const T* __restrict__ x, const T* __restrict__ loc,
                            const T* __restrict__ log_scale, T* __restrict__ y, long long n,
                            long long c, long long l, int inverse, int vec,
                            unsigned long long* status) {
    using namespace minigen_coupling;
    typedef typename cp_vec<T>::type V;
    const int VEC = cp_vec<T>::n;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long r = blockIdx.y; r < n * c; r += gridDim.y) {
        const long long ch = r % c;
        const T scale = exp_t(inverse ? -log_scale[ch] : log_scale[ch]);
        const T shift = loc[ch];
        const T* xr = x + r * l;
        T* yr = y + r * l;
        bool bad = false;
        if (vec) {
            const long long lv = l / VEC;
            const V* xv = reinterpret_cast<const V*>(xr);
            V* yv = reinterpret_cast<V*>(yr);
            for (long long j0 = (long long)blockIdx.x * blockDim.x + threadIdx.x; j0 < lv;
                 j0 += ACTNORM_UNROLL * stride) {
                V a[ACTNORM_UNROLL];
#pragma unroll
                for (int q = 0; q < ACTNORM_UNROLL; ++q)
                    if (j0 + q * stride < lv) a[q] = xv[j0 + q * stride];
#pragma unroll
                for (int q = 0; q < ACTNORM_UNROLL; ++q) {
                    if (j0 + q * stride < lv) {
                        T* e = reinterpret_cast<T*>(&a[q]);
#pragma unroll
                        for (int k = 0; k < VEC; ++k) {
                            e[k] = inverse ? e[k] * scale - shift : (e[k] + shift) * scale;
                            bad = bad || !minigen_finite<T>(e[k]);
                        }
                        yv[j0 + q * stride] = a[q];
                    }
                }
            }
        } else {
            for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < l;
                 j += stride) {
                const T v = inverse ? xr[j] * scale - shift : (xr[j] + shift) * scale;
                yr[j] = v;
                bad = bad || !minigen_finite<T>(v);
            }
        }
        if (bad) minigen_flag(status, r / c);
    }
}

// Explicit instantiations, so that `nvcc -ptx` compiles every body (CuPy looks the
// kernels up by the same names through name_expressions).
template __global__ void affine_coupling_fwd<float>(const float*, const float*, const float*,
                                                    float*, double*, long long, long long, int,
                                                    unsigned long long*);
template __global__ void affine_coupling_fwd<double>(const double*, const double*,
                                                     const double*, double*, double*, long long,
                                                     long long, int, unsigned long long*);
template __global__ void affine_coupling_bwd<float>(const float*, const float*, const float*,
                                                    const float*, const double*, float*, float*,
                                                    float*, long long, long long, int,
                                                    unsigned long long*);
template __global__ void affine_coupling_bwd<double>(const double*, const double*,
                                                     const double*, const double*,
                                                     const double*, double*, double*, double*,
                                                     long long, long long, int,
                                                     unsigned long long*);
template __global__ void additive_coupling_fwd<float>(const float*, const float*, float*,
                                                      long long, long long, float,
                                                      unsigned long long*);
template __global__ void additive_coupling_fwd<double>(const double*, const double*, double*,
                                                       long long, long long, double,
                                                       unsigned long long*);
template __global__ void additive_coupling_bwd<float>(const float*, float*, float*, long long,
                                                      long long, float, unsigned long long*);
template __global__ void additive_coupling_bwd<double>(const double*, double*, double*,
                                                       long long, long long, double,
                                                       unsigned long long*);
template __global__ void actnorm_fwd<float>(const float*, const float*, const float*, float*,
                                            long long, long long, long long, int, int,
                                            unsigned long long*);
template __global__ void actnorm_fwd<double>(const double*, const double*, const double*,
                                             double*, long long, long long, long long, int, int,
                                             unsigned long long*);
