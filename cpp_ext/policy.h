// Cost-aware choice of the number of masks per pass (METHOD.md section 4).
#pragma once

#include <vector>

namespace mtp {

// Running estimate of P(the mask at position j is accepted | every earlier one was).
class AcceptanceEstimate {
public:
    explicit AcceptanceEstimate(int max_masks = 32, double prior_accept = 0.5, double prior_weight = 2.0);
    // Record one pass that appended `masks` masks of which the first `accepted` were kept.
    void record(int masks, int accepted);
    // P(accept at mask position j), j = 1..max_masks.
    double conditional(int j) const;
    int max_masks() const { return static_cast<int>(tries_.size()); }
    // Weigh everything recorded so far by `factor` (older generations count less than the current one).
    void scale(double factor);

private:
    std::vector<double> tries_, hits_;
    double prior_accept_, prior_weight_;
};

// Expected tokens per pass with `masks` masks: 1 + sum_j prod_{i<=j} P(accept i).
double expected_tokens(const AcceptanceEstimate &est, int masks);

// The number of masks (0 = plain decoding) with the highest expected tokens per unit of cost in steady
// state: E[a] / cost(E[a] + masks), where cost[n-1] is the measured cost of a pass of n tokens.
int choose_masks(const std::vector<double> &cost, const AcceptanceEstimate &est, int max_masks);

// Plain passes between one-mask probes when the policy picks plain decoding: a probe costs
// cost(2) / cost(1) - 1 more than a plain pass, so probing every `interval` passes costs about 1%.
int probe_interval(const std::vector<double> &cost);

}  // namespace mtp
