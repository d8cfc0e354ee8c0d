// Philox4x32-10 counter-based generator: the one random stream of every minigen CUDA kernel.
// Bit for bit equal to minigen/kernels/reference/philox.py (see kernels/README.md).
//
// Stream convention: key = (seed & 0xffffffff, seed >> 32); stream position pos = offset + i
// is the block with counter (pos & 0xffffffff, pos >> 32, 0, 0), words x0..x3.
//   philox_uniform_f32(seed, pos) = (x0 >> 8) * 2^-24                        in [0, 1)
//   philox_uniform_f64(seed, pos) = ((x0 >> 5) * 2^26 + (x1 >> 6)) * 2^-53    in [0, 1)
//   philox_normal_f32/f64(seed, pos): Box-Muller in double, u1 in (0, 1], cos branch.
#pragma once

#define MINIGEN_PHILOX_M0 0xD2511F53u
#define MINIGEN_PHILOX_M1 0xCD9E8D57u
#define MINIGEN_PHILOX_W0 0x9E3779B9u
#define MINIGEN_PHILOX_W1 0xBB67AE85u

struct philox4 {
    unsigned int x0, x1, x2, x3;
};

__device__ __forceinline__ philox4 philox4x32_10(unsigned int c0, unsigned int c1,
                                                 unsigned int c2, unsigned int c3,
                                                 unsigned int k0, unsigned int k1) {
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += MINIGEN_PHILOX_W0;
            k1 += MINIGEN_PHILOX_W1;
        }
        const unsigned int hi0 = __umulhi(MINIGEN_PHILOX_M0, c0);
        const unsigned int lo0 = MINIGEN_PHILOX_M0 * c0;
        const unsigned int hi1 = __umulhi(MINIGEN_PHILOX_M1, c2);
        const unsigned int lo1 = MINIGEN_PHILOX_M1 * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    philox4 out = {c0, c1, c2, c3};
    return out;
}

__device__ __forceinline__ philox4 philox_block(unsigned long long seed, unsigned long long pos) {
    return philox4x32_10((unsigned int)pos, (unsigned int)(pos >> 32), 0u, 0u,
                         (unsigned int)seed, (unsigned int)(seed >> 32));
}

__device__ __forceinline__ unsigned long long philox_u53(unsigned int a, unsigned int b) {
    return ((unsigned long long)(a >> 5) << 26) + (unsigned long long)(b >> 6);
}

__device__ __forceinline__ float philox_uniform_f32(unsigned long long seed,
                                                    unsigned long long pos) {
    const philox4 x = philox_block(seed, pos);
    return (float)(x.x0 >> 8) * 5.9604644775390625e-08f;  // 2^-24
}

__device__ __forceinline__ double philox_uniform_f64(unsigned long long seed,
                                                     unsigned long long pos) {
    const philox4 x = philox_block(seed, pos);
    return (double)philox_u53(x.x0, x.x1) * 1.1102230246251565e-16;  // 2^-53
}

__device__ __forceinline__ double philox_normal_f64(unsigned long long seed,
                                                    unsigned long long pos) {
    const philox4 x = philox_block(seed, pos);
    const double u1 = (double)(philox_u53(x.x0, x.x1) + 1ull) * 1.1102230246251565e-16;
    const double u2 = (double)philox_u53(x.x2, x.x3) * 1.1102230246251565e-16;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

__device__ __forceinline__ float philox_normal_f32(unsigned long long seed,
                                                   unsigned long long pos) {
    const philox4 x = philox_block(seed, pos);
    const double u1 = (double)((x.x0 >> 8) + 1u) * 5.9604644775390625e-08;
    const double u2 = (double)(x.x1 >> 8) * 5.9604644775390625e-08;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

// Typed helpers for templated kernels: philox_uniform<T>(seed, pos), philox_normal<T>(seed, pos).
template <typename T> __device__ __forceinline__ T philox_uniform(unsigned long long, unsigned long long);
template <> __device__ __forceinline__ float philox_uniform<float>(unsigned long long s, unsigned long long p) {
    return philox_uniform_f32(s, p);
}
template <> __device__ __forceinline__ double philox_uniform<double>(unsigned long long s, unsigned long long p) {
    return philox_uniform_f64(s, p);
}
template <typename T> __device__ __forceinline__ T philox_normal(unsigned long long, unsigned long long);
template <> __device__ __forceinline__ float philox_normal<float>(unsigned long long s, unsigned long long p) {
    return philox_normal_f32(s, p);
}
template <> __device__ __forceinline__ double philox_normal<double>(unsigned long long s, unsigned long long p) {
    return philox_normal_f64(s, p);
}
