// The row reductions of logit_rows.h.
#include "logit_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mtp {

namespace {

// e^x for x <= 0: 2^round(t) * 2^f with t = x log2(e), |f| <= 0.5, degree-6 polynomial for 2^f.
// Relative error < 4e-6 (below float32 summation error over a vocab); inputs under -87 flush to ~0.
inline float exp_nonpositive(float x) {
    x = x > -87.0f ? x : -87.0f;
    const float t = x * 1.44269504088896341f;
    const float r = (t + 12582912.0f) - 12582912.0f;  // round to nearest, no library call
    const float f = t - r;
    float p = 1.535336188319500e-4f;
    p = p * f + 1.339887440266574e-3f;
    p = p * f + 9.618437357674640e-3f;
    p = p * f + 5.550332471162809e-2f;
    p = p * f + 2.402264791363012e-1f;
    p = p * f + 6.931472028550421e-1f;
    p = p * f + 1.0f;
    int32_t bits;
    std::memcpy(&bits, &p, sizeof bits);
    bits += static_cast<int32_t>(r) * (1 << 23);  // scale by 2^r through the exponent field
    float out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
}

}  // namespace

// Softmax of `logits / temperature` over the whole vocabulary, in float32.
std::vector<float> softmax(const float *logits, int n, float temperature) {
    std::vector<float> p(logits, logits + n);
    const float inv_t = 1.0f / temperature;
    const float max_logit = *std::max_element(p.begin(), p.end());
    float sum = 0.0f;
    for (float &x : p) {
        x = std::exp((x - max_logit) * inv_t);
        sum += x;
    }
    for (float &x : p) x /= sum;
    return p;
}

// Row reductions over the vocab, run on every row a pass reads. `omp simd` (compiled with -fopenmp-simd: no
// OpenMP runtime) lets the compiler vectorize the reductions without -ffast-math; with GCC on x86-64 glibc an
// AVX-512 copy (x86-64-v4) and an AVX2+FMA one (x86-64-v3) are built beside the default and the best the CPU
// runs is chosen when the library loads. Left scalar, a 49k-vocab row cost ~0.3 ms, about a quarter of a GPU pass
// of a small model; vectorized, 30-70 us (benchmarks/bench_pass_overhead.py). On this workplace's AVX-512 CPU the
// AVX-512 copy took a row's argmax and probability from 24.4 to 18.5 us (the argmax alone 9.7 to 8.7).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)  // ifunc needs glibc
#define MTP_ROW_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MTP_ROW_KERNEL
#endif
constexpr int kBlock = 16;

MTP_ROW_KERNEL float max_of(const float *x, int n) {
    float m = x[0];
#pragma omp simd reduction(max : m)
    for (int i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
}

// First index holding `value` (the max): the same token a first-wins argmax scan picks. Blocks are tested
// whole (vectorized), then the block that holds it is scanned.
MTP_ROW_KERNEL int32_t index_of(const float *x, int n, float value) {
    int i = 0;
    for (; i + kBlock <= n; i += kBlock) {
        int hit = 0;
#pragma omp simd reduction(| : hit)
        for (int j = 0; j < kBlock; ++j) hit |= x[i + j] == value;
        if (hit) break;
    }
    for (; i < n; ++i) {
        if (x[i] == value) return i;
    }
    return 0;
}

// sum_v exp(x[v] - max): the softmax denominator, so the top-1 probability is 1 / sum.
MTP_ROW_KERNEL float sum_exp(const float *x, int n, float max) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; ++i) sum += exp_nonpositive(x[i] - max);
    return sum;
}

}  // namespace mtp
