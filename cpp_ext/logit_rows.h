// Reductions over one row of logits (the whole vocabulary), run on every row a pass reads: the argmax, its
// probability, and the softmax for sampling. Their own file: they are compiled for vector units (CMakeLists.txt)
// and are the decode loop's only per-vocab-entry work.
#pragma once

#include <cstdint>
#include <vector>

namespace mtp {

// The largest value of x[0..n).
float max_of(const float *x, int n);
// First index holding `value` (the max): the same token a first-wins argmax scan picks.
int32_t index_of(const float *x, int n, float value);
// sum_v exp(x[v] - max) for max >= every x[v]: the softmax denominator, so the top-1 probability is 1 / sum.
float sum_exp(const float *x, int n, float max);
// Softmax of `logits / temperature` over the whole vocabulary, in float32.
std::vector<float> softmax(const float *logits, int n, float temperature);

}  // namespace mtp
