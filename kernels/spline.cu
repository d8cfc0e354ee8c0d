// Rational-quadratic spline kernels (Neural Spline Flows). Contract: kernels/README.md,
// specification: minigen/kernels/reference/spline.py (every equation is written there).
//
// Every array is C-contiguous: x, y, gy, gx are (N, D) rows of T (float or double); widths,
// heights (N, D, K); derivatives (N, D, K-1); logdet and glogdet (N,) double. Each thread
// recomputes its element's softmax on the fly (no per-thread arrays, any K): pass 1 the max
// and a finiteness check, pass 2 the softmax normalizer, then a walk along the knots to the
// bin. Non-finite input is reported in *status (atomicMin of 8 * (row * D + col) + arg, arg
// indexing (x, widths, heights, derivatives, gy, glogdet)); the wrapper raises on it.
// Instantiated from Python through name_expressions, e.g. "spline_fwd<float>".

namespace minigen_spline {

__device__ __forceinline__ float exp_t(float v) { return expf(v); }
__device__ __forceinline__ double exp_t(double v) { return exp(v); }
__device__ __forceinline__ float log_t(float v) { return logf(v); }
__device__ __forceinline__ double log_t(double v) { return log(v); }
__device__ __forceinline__ float log1p_t(float v) { return log1pf(v); }
__device__ __forceinline__ double log1p_t(double v) { return log1p(v); }
__device__ __forceinline__ float sqrt_t(float v) { return sqrtf(v); }
__device__ __forceinline__ double sqrt_t(double v) { return sqrt(v); }
__device__ __forceinline__ float fabs_t(float v) { return fabsf(v); }
__device__ __forceinline__ double fabs_t(double v) { return fabs(v); }

template <typename T> __device__ __forceinline__ bool bad(T v) { return !(v - v == (T)0); }

// Typed constants (from the host, rounded as the other backends round them): tail bound B,
// span 2B, minimum sizes m and 1 - K m, minimum derivative.
template <typename T> struct Params {
    T bound, span, min_w, coef_w, min_h, coef_h, min_d;
};

// Max of raw[0..K) (written to *m); returns whether a value is NaN/inf.
template <typename T> __device__ bool raw_max(const T* raw, int K, T* m) {
    T mx = raw[0];
    bool nonfinite = false;
    for (int l = 0; l < K; ++l) {
        nonfinite |= bad(raw[l]);
        mx = raw[l] > mx ? raw[l] : mx;
    }
    *m = mx;
    return nonfinite;
}

template <typename T> __device__ T exp_sum(const T* raw, int K, T m) {
    T total = (T)0;
    for (int l = 0; l < K; ++l) total += exp_t(raw[l] - m);
    return total;
}

// Walk the knots X_{l} = -B + span * sum_{j<l} (m + coef p_j): with search, stop at the bin
// k = number of interior knots <= v; otherwise go to bin k_given. Writes X_k, X_{k+1}, the
// softmax mass below the bin P_{<k} and p_k; returns k.
template <typename T>
__device__ int knot_pair(const T* raw, int K, T m, T total, T min_size, T coef, T bound, T span,
                         bool search, T v, int k_given, T* xk, T* xk1, T* below, T* pk) {
    T acc = (T)0, mass = (T)0, prev = -bound;
    for (int l = 1; l < K; ++l) {
        const T p = exp_t(raw[l - 1] - m) / total;  // softmax
        acc += min_size + coef * p;                 // w = m + (1 - K m) p
        const T knot = span * acc - bound;          // X_l = -B + 2B sum_{j<l} w_j
        if (search ? !(knot <= v) : (l > k_given)) {
            *xk = prev; *xk1 = knot; *below = mass; *pk = p;
            return l - 1;
        }
        mass += p;
        prev = knot;
    }
    *xk = prev; *xk1 = bound; *below = mass;
    *pk = exp_t(raw[K - 1] - m) / total;
    return K - 1;
}

template <typename T> __device__ T softplus(T r) {
    return (r > (T)0 ? r : (T)0) + log1p_t(exp_t(-fabs_t(r)));
}

template <typename T> __device__ T sigmoid(T r) {
    const T e = exp_t(-fabs_t(r));
    return r >= (T)0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);
}

// Root in [0, 1] of a t^2 + b t + c = 0 without cancellation (see the reference).
template <typename T> __device__ T inverse_theta(T xi, T dy, T s, T d0, T d1) {
    const T c1 = d0 + d1 - (T)2 * s;
    const T a = dy * (s - d0) + xi * c1;
    const T b = dy * d0 - xi * c1;
    const T c = -s * xi;
    const T disc = b * b - (T)4 * a * c;
    const T sq = sqrt_t(disc > (T)0 ? disc : (T)0);
    const T theta = b >= (T)0 ? ((T)2 * c) / (-b - sq) : (sq - b) / ((T)2 * a);
    return theta < (T)0 ? (T)0 : (theta > (T)1 ? (T)1 : theta);
}

// One element: check, locate the bin, theta and the bin quantities. Returns the bad-argument
// index (0..3) or -1.
template <typename T> struct Element {
    int k, bad_arg;
    bool inside;
    T v, x0, dx, y0, dy, d0, d1, s, theta, mw, tw, mh, th, pw_below, pw_k, ph_below, ph_k;
};

template <typename T>
__device__ Element<T> locate(const T* x, const T* widths, const T* heights, const T* derivs,
                             long long idx, int K, int inverse, const Params<T>& P) {
    Element<T> e;
    const T* w = widths + idx * K;
    const T* h = heights + idx * K;
    const T* dr = derivs + idx * (K - 1);
    e.v = x[idx];
    const bool bw = raw_max(w, K, &e.mw);
    const bool bh = raw_max(h, K, &e.mh);
    bool bd = false;
    for (int l = 0; l < K - 1; ++l) bd |= bad(dr[l]);
    e.bad_arg = bad(e.v) ? 0 : (bw ? 1 : (bh ? 2 : (bd ? 3 : -1)));
    e.inside = e.v >= -P.bound && e.v <= P.bound;
    const T vc = e.v < -P.bound ? -P.bound : (e.v > P.bound ? P.bound : e.v);
    e.tw = exp_sum(w, K, e.mw);
    e.th = exp_sum(h, K, e.mh);
    T x1, y1;
    if (inverse) {
        e.k = knot_pair(h, K, e.mh, e.th, P.min_h, P.coef_h, P.bound, P.span, true, vc, 0,
                        &e.y0, &y1, &e.ph_below, &e.ph_k);
        knot_pair(w, K, e.mw, e.tw, P.min_w, P.coef_w, P.bound, P.span, false, vc, e.k, &e.x0,
                  &x1, &e.pw_below, &e.pw_k);
    } else {
        e.k = knot_pair(w, K, e.mw, e.tw, P.min_w, P.coef_w, P.bound, P.span, true, vc, 0,
                        &e.x0, &x1, &e.pw_below, &e.pw_k);
        knot_pair(h, K, e.mh, e.th, P.min_h, P.coef_h, P.bound, P.span, false, vc, e.k, &e.y0,
                  &y1, &e.ph_below, &e.ph_k);
    }
    e.dx = x1 - e.x0;
    e.dy = y1 - e.y0;
    e.d0 = e.k == 0 ? (T)1 : P.min_d + softplus(dr[e.k - 1]);      // delta_k
    e.d1 = e.k == K - 1 ? (T)1 : P.min_d + softplus(dr[e.k]);      // delta_{k+1}
    e.s = e.dy / e.dx;                                              // bin slope
    e.theta = inverse ? inverse_theta(vc - e.y0, e.dy, e.s, e.d0, e.d1) : (vc - e.x0) / e.dx;
    return e;
}

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

__device__ void report(unsigned long long* status, long long idx, int arg) {
    atomicMin(status, (unsigned long long)(8 * idx + arg));
}

// gw[l] = p_l (g_p,l - sum_m p_m g_p,m), g_p,l = coef (g_lo [l < k] + g_hi [l <= k]).
template <typename T>
__device__ void softmax_backward(T* g, const T* raw, int K, int k, T m, T total, T g_lo, T g_hi,
                                 T coef, T below, T pk) {
    const T a = k > 0 ? g_lo * coef : (T)0;      // X_0 = -B is a constant
    const T b = k + 1 < K ? g_hi * coef : (T)0;  // so is X_K = B
    const T sum = a * below + b * (below + pk);
    for (int l = 0; l < K; ++l) {
        const T gp = (l < k ? a : (T)0) + (l <= k ? b : (T)0);
        g[l] = exp_t(raw[l] - m) / total * (gp - sum);
    }
}

}  // namespace minigen_spline

// One block per row (grid-stride over rows), threads over the row's elements: y and
// logdet[row] = sum_j log dy/dx (negated for the inverse), accumulated in double.
template <typename T>
__global__ void spline_fwd(const T* __restrict__ x, const T* __restrict__ widths,
                           const T* __restrict__ heights, const T* __restrict__ derivs,
                           T* __restrict__ y, double* __restrict__ logdet,
                           unsigned long long* __restrict__ status, long long n, long long d,
                           int K, int inverse, T bound, T span, T min_w, T coef_w, T min_h,
                           T coef_h, T min_d) {
    using namespace minigen_spline;
    const Params<T> P{bound, span, min_w, coef_w, min_h, coef_h, min_d};
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        double acc = 0.0;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            const long long idx = row * d + j;
            const Element<T> e = locate(x, widths, heights, derivs, idx, K, inverse, P);
            if (e.bad_arg >= 0) report(status, idx, e.bad_arg);
            if (!e.inside || e.bad_arg >= 0) {
                y[idx] = e.v;  // identity tails
                continue;
            }
            const T t = e.theta, u = t * ((T)1 - t);
            const T den = e.s + (e.d0 + e.d1 - (T)2 * e.s) * u;
            y[idx] = inverse ? e.x0 + t * e.dx
                             : e.y0 + e.dy * (e.s * t * t + e.d0 * u) / den;  // RQ map
            const T m = e.d1 * t * t + (T)2 * e.s * u + e.d0 * ((T)1 - t) * ((T)1 - t);
            const T r = e.s / den;
            const T ld = log_t(m * r * r);  // log dy/dx = log(m (s / den)^2), r <= 2
            acc += inverse ? -(double)ld : (double)ld;
        }
        const double total = block_sum(acc);
        if (threadIdx.x == 0) logdet[row] = total;
        __syncthreads();  // buf is reused by the next row
    }
}

// Elementwise over N*D (grid-stride): gradients of <gy, y> + <glogdet, logdet> with respect
// to x and the raw widths, heights, derivatives (equations in the reference's backward).
template <typename T>
__global__ void spline_bwd(const T* __restrict__ x, const T* __restrict__ widths,
                           const T* __restrict__ heights, const T* __restrict__ derivs,
                           const T* __restrict__ gy, const double* __restrict__ glogdet,
                           T* __restrict__ gx, T* __restrict__ gw, T* __restrict__ gh,
                           T* __restrict__ gd, unsigned long long* __restrict__ status,
                           long long n, long long d, int K, int inverse, T bound, T span,
                           T min_w, T coef_w, T min_h, T coef_h, T min_d) {
    using namespace minigen_spline;
    const Params<T> P{bound, span, min_w, coef_w, min_h, coef_h, min_d};
    const long long total = n * d;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const Element<T> e = locate(x, widths, heights, derivs, idx, K, inverse, P);
        const T g = gy[idx];
        const double gl64 = glogdet[idx / d];
        const T gl = (T)gl64;
        if (e.bad_arg >= 0) report(status, idx, e.bad_arg);
        else if (bad(g)) report(status, idx, 4);
        if (bad(gl64)) report(status, (idx / d) * d, 5);
        T* gwi = gw + idx * K;
        T* ghi = gh + idx * K;
        T* gdi = gd + idx * (K - 1);
        for (int l = 0; l < K - 1; ++l) gdi[l] = (T)0;
        if (!e.inside || e.bad_arg >= 0) {
            gx[idx] = g;  // identity tails
            for (int l = 0; l < K; ++l) { gwi[l] = (T)0; ghi[l] = (T)0; }
            continue;
        }
        const T t = e.theta, s = e.s, d0 = e.d0, d1 = e.d1, dx = e.dx, dy = e.dy;
        // partials of R = num / den (y = Y_k + dy R) and of l = log dy/dx
        const T u = t * ((T)1 - t), c1 = d0 + d1 - (T)2 * s;
        const T den = s + c1 * u, num = s * t * t + d0 * u;
        const T m = d1 * t * t + (T)2 * s * u + d0 * ((T)1 - t) * ((T)1 - t);
        const T den2 = den * den, R = num / den;
        const T R_th = s * m / den2;
        const T R_s = (t * t * den - num * ((T)1 - (T)2 * u)) / den2;
        const T R_d0 = u * (den - num) / den2, R_d1 = -u * num / den2;
        const T l_th = ((T)2 * d1 * t + (T)2 * s * ((T)1 - (T)2 * t) - (T)2 * d0 * ((T)1 - t)) / m
                       - (T)2 * c1 * ((T)1 - (T)2 * t) / den;
        const T l_s = (T)2 / s + (T)2 * u / m - (T)2 * ((T)1 - (T)2 * u) / den;
        const T l_d0 = ((T)1 - t) * ((T)1 - t) / m - (T)2 * u / den;
        const T l_d1 = t * t / m - (T)2 * u / den;
        T alpha, beta, g_x0, g_dx;
        if (inverse) {
            const T lam = (g * dx - gl * l_th) / (dy * R_th);  // dL/dtheta / (dF/dtheta)
            gx[idx] = lam;
            alpha = -lam; beta = -gl;
            g_x0 = g; g_dx = g * t;  // x = X_k + theta dx
        } else {
            const T g_th = g * dy * R_th + gl * l_th;
            gx[idx] = g_th / dx;
            alpha = g; beta = gl;
            g_x0 = -g_th / dx; g_dx = -g_th * t / dx;  // theta = (x - X_k) / dx
        }
        const T g_s = alpha * dy * R_s + beta * l_s;
        const T g_dy = alpha * R + g_s / dx;  // s = dy / dx
        g_dx = g_dx - g_s * s / dx;
        softmax_backward(gwi, widths + idx * K, K, e.k, e.mw, e.tw, g_x0 - g_dx, g_dx,
                         P.span * P.coef_w, e.pw_below, e.pw_k);
        softmax_backward(ghi, heights + idx * K, K, e.k, e.mh, e.th, alpha - g_dy, g_dy,
                         P.span * P.coef_h, e.ph_below, e.ph_k);
        const T* dr = derivs + idx * (K - 1);
        if (e.k > 0) gdi[e.k - 1] = (alpha * dy * R_d0 + beta * l_d0) * sigmoid(dr[e.k - 1]);
        if (e.k + 1 < K) gdi[e.k] = (alpha * dy * R_d1 + beta * l_d1) * sigmoid(dr[e.k]);
    }
}
