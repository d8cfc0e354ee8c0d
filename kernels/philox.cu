// Raw Philox blocks and uniform/normal fills (testing and philox_uniforms/normals on the GPU).
#include "philox.cuh"

extern "C" __global__ void philox_raw_kernel(unsigned int* out, long long n_blocks,
                                             unsigned int k0, unsigned int k1,
                                             unsigned long long lo0, unsigned long long hi0) {
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n_blocks) return;
    const unsigned long long lo = lo0 + (unsigned long long)j;
    const unsigned long long hi = hi0 + (lo < lo0 ? 1ull : 0ull);
    const philox4 x = philox4x32_10((unsigned int)lo, (unsigned int)(lo >> 32),
                                    (unsigned int)hi, (unsigned int)(hi >> 32), k0, k1);
    out[4 * j + 0] = x.x0;
    out[4 * j + 1] = x.x1;
    out[4 * j + 2] = x.x2;
    out[4 * j + 3] = x.x3;
}

template <typename T>
__global__ void philox_fill(T* out, long long n, unsigned long long seed,
                            unsigned long long offset, int normal) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned long long pos = offset + (unsigned long long)i;
    out[i] = normal ? philox_normal<T>(seed, pos) : philox_uniform<T>(seed, pos);
}

template __global__ void philox_fill<float>(float*, long long, unsigned long long, unsigned long long, int);
template __global__ void philox_fill<double>(double*, long long, unsigned long long, unsigned long long, int);
