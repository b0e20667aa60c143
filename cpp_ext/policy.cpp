#include "policy.h"

#include <algorithm>
#include <cmath>

namespace mtp {

AcceptanceEstimate::AcceptanceEstimate(int max_masks, double prior_accept, double prior_weight)
    : tries_(std::max(1, max_masks), 0.0), hits_(std::max(1, max_masks), 0.0),
      prior_accept_(prior_accept), prior_weight_(prior_weight) {}

void AcceptanceEstimate::record(int masks, int accepted) {
    // Mask j was "tried" if every mask before it was accepted; the first rejection ends the chain.
    for (int j = 1; j <= masks && j <= max_masks(); ++j) {
        tries_[j - 1] += 1.0;
        if (j <= accepted) {
            hits_[j - 1] += 1.0;
        } else {
            break;
        }
    }
}

void AcceptanceEstimate::scale(double factor) {
    for (double &t : tries_) t *= factor;
    for (double &h : hits_) h *= factor;
}

double AcceptanceEstimate::conditional(int j) const {
    if (j < 1 || j > max_masks()) return 0.0;
    return (hits_[j - 1] + prior_accept_ * prior_weight_) / (tries_[j - 1] + prior_weight_);
}

double expected_tokens(const AcceptanceEstimate &est, int masks) {
    double expected = 1.0, reach = 1.0;
    for (int j = 1; j <= masks; ++j) {
        reach *= est.conditional(j);
        expected += reach;
    }
    return expected;
}

namespace {

// Cost of a pass of n tokens, linearly interpolated (and extrapolated past the measured end).
double cost_at(const std::vector<double> &cost, double n) {
    const int size = static_cast<int>(cost.size());
    if (n <= 1.0) return cost[0];
    if (n >= size) {
        const double slope = size >= 2 ? cost[size - 1] - cost[size - 2] : cost[0];
        return cost[size - 1] + slope * (n - size);
    }
    const int lo = static_cast<int>(std::floor(n));
    const double frac = n - lo;
    return cost[lo - 1] * (1.0 - frac) + cost[lo] * frac;
}

// Tokens per pass, in steady state, of a loop whose passes all feed fixed_pass tokens: a pass feeds p pending
// tokens (the last one plus the masks accepted last time, which still need their KV) and fixed_pass - p masks,
// emits 1 + a (a = masks accepted) and leaves p' = 1 + a pending. The stationary distribution of p (power
// iteration over this small chain, made lazy: with every mask accepted it is periodic, 1 -> 2 -> 1 for a 2-token
// pass, and would not converge) weighs the tokens of each state; `mean_masks` gets the masks per pass.
double fixed_pass_tokens(const AcceptanceEstimate &est, int fixed_pass, double &mean_masks) {
    const int n = std::max(1, fixed_pass);
    std::vector<double> reach(n + 1, 1.0);  // reach[j]: P(the first j masks all accepted)
    for (int j = 1; j <= n; ++j) reach[j] = reach[j - 1] * (j <= est.max_masks() ? est.conditional(j) : 0.0);
    std::vector<double> pi(n + 1, 0.0), next(n + 1, 0.0);
    pi[1] = 1.0;
    for (int it = 0; it < 60; ++it) {
        for (int p = 0; p <= n; ++p) next[p] = 0.5 * pi[p];
        for (int p = 1; p <= n; ++p) {
            const int m = n - p;
            for (int a = 0; a <= m; ++a) next[1 + a] += 0.5 * pi[p] * (reach[a] - (a < m ? reach[a + 1] : 0.0));
        }
        pi.swap(next);
    }
    double tokens = 0.0;
    mean_masks = 0.0;
    for (int p = 1; p <= n; ++p) {
        double expected = 1.0;
        for (int j = 1; j <= n - p; ++j) expected += reach[j];
        tokens += pi[p] * expected;
        mean_masks += pi[p] * (n - p);
    }
    return tokens;
}

}  // namespace

int choose_masks(const std::vector<double> &cost, const AcceptanceEstimate &est, int max_masks, int fixed_pass) {
    if (cost.empty() || max_masks <= 0) return 0;
    int best = 0;
    double best_rate = 1.0 / cost_at(cost, 1.0);
    if (fixed_pass > 1) {
        double mean_masks = 0.0;
        const double tokens = fixed_pass_tokens(est, std::min(fixed_pass, max_masks + 1), mean_masks);
        const int masks = std::clamp(static_cast<int>(std::lround(mean_masks)), 1, max_masks);
        return tokens / cost_at(cost, fixed_pass) > best_rate * (1.0 + 1e-9) ? masks : 0;
    }
    for (int m = 1; m <= std::min(max_masks, est.max_masks()); ++m) {
        const double tokens = expected_tokens(est, m);
        // Steady state: a pass re-feeds the tokens accepted last time plus the masks.
        const double rate = tokens / cost_at(cost, tokens + m);
        if (rate > best_rate * (1.0 + 1e-9)) {
            best_rate = rate;
            best = m;
        }
    }
    return best;
}

int lookup_draft_length(const AcceptanceEstimate &drafts, const AcceptanceEstimate &masks, int available, int slots) {
    const int most = std::min({available, slots, drafts.max_masks()});
    int best = 0;
    double best_tokens = expected_tokens(masks, slots) - 1.0, held = 1.0, from_drafts = 0.0;
    for (int d = 1; d <= most; ++d) {
        held *= drafts.conditional(d);
        from_drafts += held;
        const double tokens = from_drafts + held * (expected_tokens(masks, slots - d) - 1.0);
        if (tokens > best_tokens * (1.0 + 1e-9)) {
            best_tokens = tokens;
            best = d;
        }
    }
    return best;
}

int best_fixed_pass(const std::vector<double> &cost, const AcceptanceEstimate &est, int k_max, int current,
                    double margin) {
    if (cost.empty() || k_max < 2) return std::max(k_max, 1);
    int best = k_max;
    double best_rate = -1.0, current_rate = -1.0;
    for (int n = 2; n <= k_max; ++n) {
        double mean_masks = 0.0;
        const double rate = fixed_pass_tokens(est, n, mean_masks) / cost_at(cost, n);
        if (n == current) current_rate = rate;
        if (rate > best_rate * (1.0 + 1e-9)) {  // ties go to the smaller pass
            best_rate = rate;
            best = n;
        }
    }
    if (current_rate > 0.0 && best_rate <= current_rate * (1.0 + std::max(0.0, margin))) return current;
    return best;
}

int prior_fixed_pass(const std::vector<double> &cost, int k_max, double prior_tie) {
    const AcceptanceEstimate prior(std::max(1, k_max - 1));
    for (int n = 2; n < k_max && prior_tie > 0.0; ++n) {
        if (best_fixed_pass(cost, prior, k_max, n, prior_tie) == n) return n;  // n is within the tie margin
    }
    return best_fixed_pass(cost, prior, k_max);
}

int next_fixed_pass(const std::vector<double> &cost, const AcceptanceEstimate &est, int k_max, int current,
                    double prior_tie) {
    if (est.tries(1) < kPassResizeEvidence) return current > 0 ? current : prior_fixed_pass(cost, k_max, prior_tie);
    return best_fixed_pass(cost, est, k_max, current, kPassChangeMargin);
}

bool masks_can_pay(const std::vector<double> &cost, int max_masks, int fixed_pass) {
    const AcceptanceEstimate every_mask_accepted(std::max(1, max_masks), 1.0, 1.0);
    return choose_masks(cost, every_mask_accepted, max_masks, fixed_pass) > 0;
}

int prompt_pass_masks(const std::vector<double> &cost, int n_prompt, int most, double budget) {
    if (cost.empty() || n_prompt <= 0) return 0;
    const double base = cost_at(cost, n_prompt);
    int masks = 0;
    while (masks < most && cost_at(cost, n_prompt + masks + 1) <= base * (1.0 + budget)) ++masks;
    return masks;
}

int probe_interval(const std::vector<double> &cost, int probe_pass, double switch_cost) {
    if (cost.size() < 2 || !(cost[0] > 0.0)) return 16;
    const double extra = std::max(0.0, cost_at(cost, std::max(2, probe_pass)) / cost[0] - 1.0) +
                         2.0 * std::max(0.0, switch_cost) / cost[0];
    return std::clamp(static_cast<int>(std::ceil(extra / 0.01)), 16, 256);
}

int ProbeSchedule::next_plain_pass() {
    int masks = 0;
    if (next_ > 0) {
        masks = next_;  // the last probe kept every mask: try one deeper now
    } else if (in_flight_ == 0 && ++since_ >= interval_) {
        masks = 1;
    }
    if (masks == 0) return 0;
    since_ = 0;
    next_ = 0;
    in_flight_ = masks;
    return masks;
}

void ProbeSchedule::record(int masks, int accepted) {
    if (in_flight_ == 0) return;  // between a probe and its outcome no other pass has masks: this is its outcome
    next_ = masks > 0 && accepted >= masks && masks < most_ ? masks + 1 : 0;
    in_flight_ = 0;
}

void ThroughputGuard::record(double seconds, int tokens) {
    if (skip_ > 0) {
        skip_ -= 1;  // a switch's (or a generation's) first passes pay for the change of shape itself
    } else {
        window_s_ += seconds;
        window_tokens_ += tokens;
        window_passes_ += 1.0;
    }
    if (++pass_in_window_ >= kWindow) end_window();
}

void ThroughputGuard::end_window() {
    // Windows in the faster regime between re-measurements: at least revisit_, and enough that the two changes
    // of pass size a re-measurement makes stay within kExploreBudget of the time.
    int revisit_at = revisit_;
    if (switch_s_ > 0.0 && window_passes_ > 0.0) {
        const double window_time = window_s_ / window_passes_ * kWindow;
        revisit_at = std::max(revisit_at, std::min(kMostRevisit, static_cast<int>(std::ceil(
                                                       2.0 * switch_s_ / (kExploreBudget * window_time)))));
    }
    // The regime's recent cost per pass (what the next passes will cost) over its longer-smoothed yield.
    if (window_tokens_ > 0.0) {
        yield_tokens_[regime_] = yield_decay_ * yield_tokens_[regime_] + window_tokens_;
        yield_passes_[regime_] = yield_decay_ * yield_passes_[regime_] + window_passes_;
        // Both regimes' cost memories fade with every window, run or not: a regime re-measured after a long spell
        // of the other is judged on what it costs now (the machine may have changed), not on windows long past.
        for (int r = 0; r < 2; ++r) cost_s_[r] *= cost_decay_, cost_passes_[r] *= cost_decay_;
        cost_s_[regime_] += window_s_;
        cost_passes_[regime_] += window_passes_;
        per_token_[regime_] = (cost_s_[regime_] / cost_passes_[regime_]) * yield_passes_[regime_] / yield_tokens_[regime_];
        if (regime_ == kMasks) masks_windows_ += 1;
    }
    pass_in_window_ = 0;
    window_s_ = window_tokens_ = window_passes_ = 0.0;
    windows_in_regime_ += 1;
    const int other = 1 - regime_;
    int next = regime_;
    bool explore = false;
    if (per_token_[other] < 0.0) {
        // Never measured: measure it, but judge masks on several windows first. A plain pass's time per token
        // is one pass's cost, steady; with masks it swings with the text (16-pass windows of chat answers on an
        // H200: 1.08 to 1.46 ms a token around 1.15), and a verdict on one window sent auto to plain where the
        // masks paid 7% (benchmarks/replay_guard.py, session 9's chat traces).
        if (regime_ != kMasks || masks_windows_ >= first_masks_windows_) {
            next = other;
            explore = true;
        }
    } else if (judged(other) < judged(regime_)) {
        next = other;  // the other regime is faster (after a look at this one, or this one got slower)
        if (!exploring_) revisit_ = kFirstRevisit;
    } else if (exploring_) {
        revisit_ = kFirstRevisit;  // the regime just re-measured is the faster one now: it stays
    } else if (windows_in_regime_ >= revisit_at) {
        next = other;  // acceptance changes with the text: look at the slower regime again, less often each time
        explore = true;
        revisit_ = std::min(2 * revisit_, kMaxRevisit);
    }
    exploring_ = explore;
    if (next != regime_) {
        skip_ = kWarmup;
        regime_ = next;
        windows_in_regime_ = 0;
    }
}

}  // namespace mtp
