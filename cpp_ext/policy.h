// Cost-aware choice of the number of masks per pass (METHOD.md section 4).
#pragma once

#include <algorithm>
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
    // Passes (decayed by scale) that tried mask j, j = 1..max_masks: how much the estimate of row j rests on.
    double tries(int j) const { return j >= 1 && j <= max_masks() ? tries_[j - 1] : 0.0; }
    // Weigh everything recorded so far by `factor` (older generations count less than the current one).
    void scale(double factor);

private:
    std::vector<double> tries_, hits_;
    double prior_accept_, prior_weight_;
};

// Expected tokens per pass with `masks` masks: 1 + sum_j prod_{i<=j} P(accept i).
double expected_tokens(const AcceptanceEstimate &est, int masks);

// How many of `available` prompt-lookup draft tokens to put in a pass whose masks would fill `slots` (the drafts
// take slots from the masks, which follow them and count only if every draft holds): the d with the most expected
// tokens, sum_{i<=d} Q(i) + Q(d) * (expected_tokens(masks, slots - d) - 1), Q(i) the chance drafts 1..i all hold.
// Ties go to fewer drafts. A fixed split lost where masks hold (H200 GSM8K, 8-token passes: 2 masks kept, -6%) and
// won where they fail (chat, +13%), session 17.
int lookup_draft_length(const AcceptanceEstimate &drafts, const AcceptanceEstimate &masks, int available, int slots);

// The number of masks (0 = plain decoding) with the highest expected tokens per unit of cost in steady
// state: E[a] / cost(E[a] + masks), where cost[n-1] is the measured cost of a pass of n tokens.
// With `fixed_pass` > 0 every pass with masks feeds exactly that many tokens (the re-fed ones, masks filling
// the rest): the choice is plain against a pass of fixed_pass tokens whose masks fill what E[a] leaves.
int choose_masks(const std::vector<double> &cost, const AcceptanceEstimate &est, int max_masks,
                 int fixed_pass = 0);

// The pass size (2..k_max tokens) for a loop whose passes with masks all have one size (fixed_shape): the one with
// the most expected tokens per unit of cost by the acceptance so far. Chosen once per generation, so the shape
// still changes only between generations (on an H200 a 4-token pass cost 1.66 ms and a 6-token one 1.80 ms in
// the loop for nearly the same tokens a pass, 1.74 and 1.82, at tau 0.9: k_max = 6 every pass left 5% there).
// With `current` (the size the last generation used, 2..k_max) the size changes only where the best one is
// expected to be more than `margin` faster: chat answers alternate between stretches where every mask holds and
// stretches where none does, so the estimate's deep rows swing from answer to answer, and followed answer by
// answer it went from 6 tokens to 2 after one poor answer and stayed there for nine (H200 chat trace, session 14:
// 2-token passes at 1.19x a plain one for ~1.1 tokens, where 4-token ones gave 1.09x plain over all answers).
int best_fixed_pass(const std::vector<double> &cost, const AcceptanceEstimate &est, int k_max, int current = 0,
                    double margin = 0.0);
// best_fixed_pass's margin in the decoder: in the replay of 17 bench traces (benchmarks/replay_guard.py) margins
// of 0.15 to 0.3 gave the same choices; without one auto fell to 86% of the best fixed row on one trace of them.
constexpr double kPassChangeMargin = 0.2;
// Passes with masks (decayed: halved per generation) the estimate must rest on before the pass size moves from the
// one the prior picks: a few passes of an answer's opening where every mask held (an 8-token run) picked 6-token
// passes, and the margin then kept them for every later answer (the replay of session 16's H200 chat traces: 6-token
// passes made 1.51 tokens a pass where 4-token ones made 1.50, for a pass 12% dearer).
constexpr double kPassResizeEvidence = 16.0;

// The pass size of a new generation of one-shape passes: the prior's choice (every mask at 0.5) while the estimate
// rests on fewer than kPassResizeEvidence passes, then best_fixed_pass from `current` (the size the last generation
// used, 0: none) with kPassChangeMargin. The margin holds the prior's size too. Session 17 let the first answer with
// enough passes pick the size alone (a quick calibration's noise had made the prior pick 5-token passes on an H200,
// kept for all 36 GSM8K answers: 93.7% of k_max = 4), and an easy opening answer then set 6-token passes for all 23
// chat answers after it where 4 was the best size (H200, session 18: auto 86% of k_max = 4). In the replay of the
// 26 bench traces (benchmarks/replay_all_traces.py) that rule left 12 below 95% of the best fixed row; holding the
// prior's size (with the guard's kMasksMargin) 2, a prior that let near ties go to the smaller size (5%) 3. That
// replay priced the policy by the loop's own costs and ran sizes the sweep lacked as the next smaller row; with the
// curve the decoder really had (the bench's calibration) and every size, it reproduces what the bench measured.
//
// The prior's size: the smallest whose expected rate under the prior is within kPriorTieMargin of the best. The
// prior (every mask at 0.5) is a guess and the calibrated curve carries a few % of noise, so its best size among
// near ties is the noise's pick; the margin then holds it. A pass too large costs more than one too small: its
// masks cost on every pass, acceptance deep in a pass is what texts lack, and where the masks' gain over plain
// shrinks to a tie the guard goes plain (H200, session 19, chat: the calibration put 5-token passes 0.1% above
// 4-token ones under the prior, the margin kept 5 where 4 was 7% faster a token in the loop, the guard ran plain
// on 80% of passes: auto 81% of k_max = 4). Replayed on the 30 bench traces with each bench's calibrated curve:
// below 95% of the best fixed row on 8 -> 5, mean 96.2% -> 98.7%; measured: chat 81% -> 100.2%, GSM8K 98.2% ->
// 98.1%. Verifying modes pass `prior_tie` 0: every slot past the accepted prefix still carries a proposal or a draft
// that the next pass verifies, so their larger passes lose little (H200, confadapt_verify, one size: chat 4/6/8
// tokens 1.44/1.48/1.48x, GSM8K 1.79/1.77/1.81x), and the tie's 4-token passes on chat made 1.39x where 5 made 1.50x.
constexpr double kPriorTieMargin = 0.03;
int prior_fixed_pass(const std::vector<double> &cost, int k_max, double prior_tie = kPriorTieMargin);
int next_fixed_pass(const std::vector<double> &cost, const AcceptanceEstimate &est, int k_max, int current,
                    double prior_tie = kPriorTieMargin);

// Whether masks could pay on this curve at all: the policy's choice if every mask were accepted. Where even that
// picks plain decoding (a small model on a CPU: a pass of n tokens costs nearly n times one), masks on the prompt
// pass and probes would only cost time (+11-15% of a prompt pass of ~40 tokens on this 2-core CPU).
bool masks_can_pay(const std::vector<double> &cost, int max_masks, int fixed_pass = 0);

// Masks to append to the prompt's pass of `n_prompt` tokens: they sample the acceptance before the first decode
// pass, worth it only while nearly free. The most (up to `most`) whose extra cost stays within `budget` of the
// pass (a GPU: several; this 2-core CPU at 43 tokens: 5 masks cost +11-15%, so fewer).
int prompt_pass_masks(const std::vector<double> &cost, int n_prompt, int most, double budget = 0.03);

// Plain passes between probes when the policy picks plain decoding: a probe (a pass of
// `probe_pass` tokens) costs cost(probe_pass) / cost(1) - 1 more than a plain pass, plus two changes of pass
// shape (`switch_cost` each, in the curve's unit: into the probe and back; llama.cpp's CUDA backend runs a new
// shape's first pass without its graph and captures it on the second, ~10 ms on an H200 where a plain pass is
// 1.3 ms), so probing every `interval` passes costs about 1%.
int probe_interval(const std::vector<double> &cost, int probe_pass = 2, double switch_cost = 0.0);

// When to probe while the policy picks plain decoding, and with how many masks. A probe is a pass with masks that
// lets an estimate driven down recover. One mask every `interval` plain passes is cheap but shows only row 1: where
// only several accepted masks pay (F16 on a 2-core AVX-512 CPU: a 2-token pass costs ~1.4x one, a 6-token one
// ~2x), one-mask probes left auto plain for whole answers (Eff. k 1.19 where k_max = 4 gave 2.18, session 11).
// Probes with every mask showed it but let an untrained mask's confident junk through on a whole probe. So a probe
// that kept every mask is followed at once by one with a mask more (up to `most`), and the first rejection ends the
// run of probes: the deeper rows are tried only as far as the rows before them held.
class ProbeSchedule {
public:
    explicit ProbeSchedule(int interval = 16, int most = 1) : interval_(std::max(1, interval)), most_(most) {}
    // Masks for a pass where the policy chose plain decoding: 0, or the probe's masks (it is then in flight).
    int next_plain_pass();
    // The policy chose masks itself: probing restarts from one mask after the full interval.
    void policy_chose_masks() { since_ = 0, next_ = 0, in_flight_ = 0; }
    // A pass with `masks` masks (as fed: a probe cut to 0 by the context counts as a rejection) kept `accepted`;
    // it counts only for the probe in flight.
    void record(int masks, int accepted);
    int interval() const { return interval_; }

private:
    int interval_, most_;
    int since_ = 0;      // plain passes since the last probe
    int next_ = 0;       // masks of a probe due on the next plain pass (0: wait for the interval)
    int in_flight_ = 0;  // masks of the probe whose outcome is not yet recorded
};

// Wall-clock check of the cost model behind choose_masks. The calibrated curve times passes on their own;
// the loop's real costs can differ (llama.cpp's CUDA backend replays a captured graph only when a pass has
// the shape of the one before, so in a loop whose pass size varies a 2-token pass cost 2.9x a plain
// one-token pass on an H200; other processes; caches). The guard alternates windows of passes between
// "masks allowed" and "plain", keeps the measured time per emitted token of each, and runs the faster one,
// re-measuring the slower one at growing intervals.
// Time per token = (seconds per pass over that regime's windows of the last ~8) / (tokens per pass over its last ~50).
// Costs are taken as they are lately (they jump when the machine changes); the yield is smoothed because
// a 16-pass window's tokens per pass swing with the text (GSM8K on an H200: windows of 1.1 and 2.7 tokens a pass
// around a mean of 1.9, where masks pay above 1.38). Judged on one window, a poor stretch switched the guard to
// plain for 64 passes and more: 5% of the masks regime's throughput lost (benchmarks/replay_guard.py). Where the
// text itself stops paying for masks, the acceptance estimate behind choose_masks is what answers.
// The cost is smoothed too, because where passes are chosen one by one (the CPU: plain passes and passes with masks
// mixed in one window) a window's cost and its yield move together, and the latest window's cost over a yield of
// ~50 windows swung with the mix: on a 2-core CPU's chat the guard ran plain for 26-38% of passes where masks paid.
class ThroughputGuard {
public:
    static constexpr int kWindow = 16;       // passes per window
    static constexpr int kWarmup = 2;        // first passes of a window after a switch: not timed
    static constexpr int kFirstRevisit = 4;  // windows in the faster regime before the slower is re-measured
    static constexpr int kMaxRevisit = 64;   // ... doubling after each re-measurement that confirms it
    // Per window: the yield's memory is ~50 windows of its regime, several whole answers. Acceptance depends on
    // where in an answer a window falls (chat answers on an H200: openings 1.25-1.46 ms a token, tails 1.08-1.14);
    // with ~8 windows, masks that carried on into the next answer's opening were judged slower than plain there.
    static constexpr double kYieldDecay = 0.98;
    // Per window of either regime: the cost's memory is ~8 windows of time, so a drift or a change of machine state
    // shows within a few. Judged on the latest window alone, a CPU's chat ran plain for a third of its passes where
    // masks paid (session 26).
    static constexpr double kCostDecay = 0.875;
    static constexpr double kExploreBudget = 0.03;  // a re-measurement's two changes of pass size: <= 3% of the time
    static constexpr int kMostRevisit = 256;       // ... within this many windows at most
    static constexpr int kFirstMasksWindows = 12;  // windows with masks before plain passes are first measured
    // Masks stay (or come back) unless plain passes are measured this much faster a token. Masks are the regime
    // that learns: plain passes show nothing of the text's acceptance, so a guard that went plain on a near tie
    // stayed there through the easy answers after it, re-measuring masks one window at a time against a yield
    // remembered over ~50 (the replay of session 18's H200 chat traces at k_max = 4: plain on 26% of passes, 83% of
    // always-masks; with the margin 101%; over 26 traces: min 84.6% -> 93.8% of the best fixed row).
    static constexpr double kMasksMargin = 0.03;

    // `yield_decay` 0 judges each regime by its latest window alone (this guard before session 7);
    // `first_masks_windows` 1 measures plain passes after the first window with masks (before session 9);
    // `cost_decay` 0 takes the latest window's cost per pass (before session 26).
    explicit ThroughputGuard(double yield_decay = kYieldDecay, int first_masks_windows = kFirstMasksWindows,
                             double masks_margin = kMasksMargin, double cost_decay = kCostDecay)
        : yield_decay_(yield_decay), cost_decay_(cost_decay), first_masks_windows_(first_masks_windows),
          masks_margin_(masks_margin) {}

    // Whether the current window may append masks.
    bool masks_allowed() const { return regime_ == kMasks; }
    // Record one decode pass (not the prompt's): its wall time and the tokens it emitted.
    void record(double seconds, int tokens);
    // A generation begins: its first decode passes follow the prompt's pass, a pass of another shape, and pay
    // for that (on CUDA: 6.6 and 11.3 ms against 1.7 ms), so like a switch's they are not timed. Timed, they
    // made the first window of every generation look slow and sent the guard to plain for a window each time.
    void begin_generation() { skip_ = kWarmup; }
    // What a change of pass size costs here (seconds; the decoder measures it). A re-measurement of the slower
    // regime makes two; where they are dear (CUDA: ~9 ms each against 20 ms for a 16-pass window of plain passes)
    // re-measuring after 4 windows spent a fifth of the time on switching, so the interval grows to keep it <= 3%.
    void set_switch_cost(double seconds) { switch_s_ = seconds; }
    // Measured seconds per emitted token with masks allowed / plain; negative while unmeasured.
    double seconds_per_token(bool masks) const { return per_token_[masks ? kMasks : kPlain]; }

private:
    enum { kMasks = 0, kPlain = 1 };
    void end_window();
    int regime_ = kMasks;
    int pass_in_window_ = 0;
    int skip_ = kWarmup;    // passes still to leave untimed after a switch or a generation's start
    // Time per token as judged: masks' discounted by masks_margin_.
    double judged(int regime) const { return regime == kMasks ? per_token_[kMasks] / (1.0 + masks_margin_) : per_token_[kPlain]; }
    double yield_decay_;
    double cost_decay_;
    int first_masks_windows_;
    double masks_margin_;
    double window_s_ = 0.0, window_tokens_ = 0.0, window_passes_ = 0.0;
    double yield_tokens_[2] = {0.0, 0.0}, yield_passes_[2] = {0.0, 0.0};  // decayed sums per regime
    double cost_s_[2] = {0.0, 0.0}, cost_passes_[2] = {0.0, 0.0};          // the same, at cost_decay_
    double per_token_[2] = {-1.0, -1.0};
    int windows_in_regime_ = 0;  // consecutive windows run in the current regime
    int masks_windows_ = 0;      // timed windows run with masks allowed, all told
    int revisit_ = kFirstRevisit;  // windows in the faster regime before the slower one is measured again
    bool exploring_ = false;       // the current window re-measures the regime that was slower
    double switch_s_ = 0.0;        // what a change of pass size costs (set_switch_cost)
};

}  // namespace mtp
