// Langevin kernels (see minigen/kernels/reference/langevin.py for the specification).
// Templated on T = float | double; instantiated through CuPy name_expressions.
// Randomness: explicit arrays (use_philox == 0) or Philox stream position offset + i,
// with i the C-order index of the explicit array the stream replaces.
// Value checks (status.cuh): a step flags the first element whose result is not finite
// (a NaN or inf input always makes it so); the MALA test the first chain with a
// non-finite input, energy_x not finite, energy_prop NaN or -inf, a uniform outside
// [0, 1) or a NaN log ratio; the runners the first chain whose final state is not finite.
#include "philox.cuh"
#include "status.cuh"

#define MINIGEN_MAX_D 32
#define MINIGEN_MAX_K 64

template <typename T>
__device__ __forceinline__ T noise_at(const T* z, long long i, int use_philox,
                                      unsigned long long seed, unsigned long long offset) {
    return use_philox ? philox_normal<T>(seed, offset + (unsigned long long)i) : z[i];
}

// out = x - half * m * g + sq * sqrt(m) * z; has_m == 0 means m = 1 (plain ULA).
template <typename T>
__global__ void ula_step(const T* __restrict__ x, const T* __restrict__ g,
                         const T* __restrict__ z, const T* __restrict__ m, T half, T sq,
                         T* out, long long n, long long D, int has_m, int use_philox,
                         unsigned long long seed, unsigned long long offset,
                         unsigned long long* status) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        T zi = noise_at<T>(z, i, use_philox, seed, offset);
        T o;
        if (!has_m) {
            o = (x[i] - half * g[i]) + sq * zi;
        } else {
            T mi = m[i % D];
            o = (x[i] - half * (mi * g[i])) + sq * (sqrt(mi) * zi);
        }
        out[i] = o;
        if (!minigen_finite<T>(o)) minigen_flag(status, i);
    }
}

// sum_d (a_d - c_d)(a_d + c_d) = |a|^2 - |c|^2 for chain n (reference.langevin.
// mala_log_alpha): no inf - inf for huge |x|; an overflowing sum is redone scaled by the
// largest factors, so that its sign survives. *finite: whether the inputs are finite.
template <typename T>
__device__ double mala_quadratic(const T* x, const T* y, const T* gx, const T* gy, long long n,
                                 long long D, double half, bool* finite) {
    double q = 0.0;
    for (long long d = 0; d < D; ++d) {
        const double xd = x[n * D + d], yd = y[n * D + d], gxd = gx[n * D + d], gyd = gy[n * D + d];
        q += (2 * (yd - xd) + half * (gxd - gyd)) * (half * (gxd + gyd));
    }
    *finite = true;
    if (minigen_finite<double>(q)) return q;
    double s1 = 0.0, s2 = 0.0;  // rare path
    for (long long d = 0; d < D; ++d) {
        const double xd = x[n * D + d], yd = y[n * D + d], gxd = gx[n * D + d], gyd = gy[n * D + d];
        *finite = *finite && minigen_finite<double>(xd) && minigen_finite<double>(yd)
                  && minigen_finite<double>(gxd) && minigen_finite<double>(gyd);
        s1 = fmax(s1, fabs(2 * (yd - xd) + half * (gxd - gyd)));
        s2 = fmax(s2, fabs(half * (gxd + gyd)));
    }
    if (!*finite) return q;
    q = 0.0;
    for (long long d = 0; d < D; ++d) {
        const double xd = x[n * D + d], yd = y[n * D + d], gxd = gx[n * D + d], gyd = gy[n * D + d];
        q += ((2 * (yd - xd) + half * (gxd - gyd)) / s1) * ((half * (gxd + gyd)) / s2);
    }
    return q == 0.0 ? 0.0 : q * s1 * s2;
}

// MALA accept test, one thread per chain; log alpha accumulated in double.
template <typename T>
__global__ void mala_accept(const T* x, const T* y, const T* gx, const T* gy, const T* ex,
                            const T* ey, double step, const T* u, T* x_new, T* g_new, T* e_new,
                            bool* acc, T* la, long long N, long long D, int use_philox,
                            unsigned long long seed, unsigned long long offset,
                            unsigned long long* status) {
    long long n = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (n >= N) return;
    bool finite;
    const double q = mala_quadratic<T>(x, y, gx, gy, n, D, step / 2, &finite);
    const double exn = ex[n], eyn = ey[n];
    // E(x') = +inf: zero density, always rejected (also when q is +inf)
    const double lan = eyn > minigen_max<double>() ? __longlong_as_double(0xfff0000000000000ll)  // -inf
                                                   : exn - eyn + q / (2 * step);
    T lat = (T)lan;
    la[n] = lat;
    double un = use_philox ? (double)philox_uniform<T>(seed, offset + (unsigned long long)n)
                           : (double)u[n];
    const bool valid = finite && minigen_finite<double>(exn) && eyn >= -minigen_max<double>()
                       && un >= 0.0 && un < 1.0 && lat == lat;
    if (!valid) minigen_flag(status, n);
    bool ok = log(un) < (double)lat;
    acc[n] = ok;
    e_new[n] = ok ? ey[n] : ex[n];
    for (long long d = 0; d < D; ++d) {
        x_new[n * D + d] = ok ? y[n * D + d] : x[n * D + d];
        g_new[n * D + d] = ok ? gy[n * D + d] : gx[n * D + d];
    }
}

// n_steps ULA steps on sum_k w_k N(mu_k, s_k^2 I); one thread per chain, state in registers.
// logw[k] = log w_k - D log s_k, inv_var[k] = 1 / s_k^2. Needs D <= 32, K <= 64.
template <typename T>
__global__ void run_gmm(T* x, long long N, int D, int K, int n_steps, T half, T sq,
                        const T* __restrict__ logw, const T* __restrict__ means,
                        const T* __restrict__ inv_var, const T* __restrict__ z, int use_philox,
                        unsigned long long seed, unsigned long long offset,
                        unsigned long long* status) {
    long long n = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (n >= N) return;
    T xr[MINIGEN_MAX_D], g[MINIGEN_MAX_D], lg[MINIGEN_MAX_K];
    for (int d = 0; d < D; ++d) xr[d] = x[n * D + d];
    for (int t = 0; t < n_steps; ++t) {
        T mx = T(0);  // set by k == 0 below (NVRTC has no INFINITY macro)
        for (int k = 0; k < K; ++k) {
            T sqd = 0;
            for (int d = 0; d < D; ++d) {
                T e = xr[d] - means[k * D + d];
                sqd += e * e;
            }
            lg[k] = logw[k] - T(0.5) * sqd * inv_var[k];
            mx = (k == 0 || lg[k] > mx) ? lg[k] : mx;
        }
        T tot = 0;
        for (int k = 0; k < K; ++k) {
            lg[k] = exp(lg[k] - mx);
            tot += lg[k];
        }
        for (int d = 0; d < D; ++d) g[d] = 0;
        for (int k = 0; k < K; ++k) {
            T r = lg[k] / tot * inv_var[k];
            for (int d = 0; d < D; ++d) g[d] += r * (xr[d] - means[k * D + d]);
        }
        long long base = ((long long)t * N + n) * D;
        for (int d = 0; d < D; ++d)
            xr[d] = (xr[d] - half * g[d]) + sq * noise_at<T>(z, base + d, use_philox, seed, offset);
    }
    bool finite = true;
    for (int d = 0; d < D; ++d) {
        x[n * D + d] = xr[d];
        finite = finite && minigen_finite<T>(xr[d]);
    }
    if (!finite) minigen_flag(status, n);
}

// n_steps ULA steps on E = 1/2 (x - mu)^T A (x - mu); one thread per chain, D <= 32.
template <typename T>
__global__ void run_quadratic(T* x, long long N, int D, int n_steps, T half, T sq,
                              const T* __restrict__ A, const T* __restrict__ mu,
                              const T* __restrict__ z, int use_philox, unsigned long long seed,
                              unsigned long long offset, unsigned long long* status) {
    long long n = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (n >= N) return;
    T xr[MINIGEN_MAX_D], r[MINIGEN_MAX_D];
    for (int d = 0; d < D; ++d) xr[d] = x[n * D + d];
    for (int t = 0; t < n_steps; ++t) {
        for (int d = 0; d < D; ++d) r[d] = xr[d] - mu[d];
        long long base = ((long long)t * N + n) * D;
        for (int d = 0; d < D; ++d) {
            T gd = 0;
            for (int e = 0; e < D; ++e) gd += r[e] * A[e * D + d];
            xr[d] = (xr[d] - half * gd) + sq * noise_at<T>(z, base + d, use_philox, seed, offset);
        }
    }
    bool finite = true;
    for (int d = 0; d < D; ++d) {
        x[n * D + d] = xr[d];
        finite = finite && minigen_finite<T>(xr[d]);
    }
    if (!finite) minigen_flag(status, n);
}

// Explicit instantiations so that `nvcc -ptx` checks both dtypes (CuPy uses name_expressions).
template __global__ void ula_step<float>(const float*, const float*, const float*, const float*, float, float, float*, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void ula_step<double>(const double*, const double*, const double*, const double*, double, double, double*, long long, long long, int, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void mala_accept<float>(const float*, const float*, const float*, const float*, const float*, const float*, double, const float*, float*, float*, float*, bool*, float*, long long, long long, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void mala_accept<double>(const double*, const double*, const double*, const double*, const double*, const double*, double, const double*, double*, double*, double*, bool*, double*, long long, long long, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void run_gmm<float>(float*, long long, int, int, int, float, float, const float*, const float*, const float*, const float*, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void run_gmm<double>(double*, long long, int, int, int, double, double, const double*, const double*, const double*, const double*, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void run_quadratic<float>(float*, long long, int, int, float, float, const float*, const float*, const float*, int, unsigned long long, unsigned long long, unsigned long long*);
template __global__ void run_quadratic<double>(double*, long long, int, int, double, double, const double*, const double*, const double*, int, unsigned long long, unsigned long long, unsigned long long*);
