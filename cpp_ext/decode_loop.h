// The MTP decode loop: one llama_decode per pass, several accepted tokens per pass.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "device_rows.h"
#include "llama_api.h"
#include "policy.h"

namespace mtp {

// ConfAdaptVerify: ConfAdapt's confident prefix is emitted at once, and the mask rows after it that clear
// propose_tau are proposed and verified by the next pass, as Lossless proposes all of its tokens.
enum class AcceptMode { ConfAdapt, Static, Lossless, ConfAdaptVerify };

struct DecodeParams {
    AcceptMode mode = AcceptMode::ConfAdapt;
    int k_max = 1;                // tokens predicted per pass at most (k_max - 1 masks)
    float tau = 0.9f;             // ConfAdapt threshold on the top-1 probability
    float propose_tau = 0.5f;     // ConfAdaptVerify: a row below tau but at least this is proposed
    int32_t mask_id = -1;         // -1: the model has no mask token (k_max must be 1)
    bool mask_range = false;      // slot j uses mask_id + j instead of one id
    int max_tokens = 256;
    std::vector<int32_t> stop_ids;  // in addition to the vocab's end-of-generation tokens
    bool track_agreement = true;  // ask for logits on re-fed rows to check mask tokens against greedy
    // Cost curve (cost of a pass of n tokens at index n-1); non-empty selects the cost-aware policy.
    std::vector<double> pass_cost;
    // Sampling (temperature 0 = greedy).
    float temperature = 0.0f;
    int top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float repeat_penalty = 1.0f;
    int repeat_last_n = 64;
    uint32_t seed = 0xFFFFFFFFu;
    bool trace = false;           // record a PassTrace per pass (tests, debugging)
    // Every pass with masks feeds exactly k_max tokens (the re-fed ones + masks filling the rest) with logits
    // on every row: llama.cpp's CUDA backend replays a captured graph only for a pass shaped like the one
    // before, and a loop whose pass size varies runs every pass kernel by kernel.
    bool fixed_shape = false;
    // Prompt lookup inside the verifying modes (greedy): where the text so far ends in an n-gram (up to
    // lookup_ngram tokens, at least 2) seen earlier in the prompt or the answer, up to lookup_tokens of what followed
    // it take slots of the pass the masks would otherwise fill (as many as lookup_draft_length finds worth it), and
    // that same pass verifies them.
    int lookup_tokens = 0;        // 0: off
    int lookup_ngram = 3;
    // ConfAdaptVerify: masks past the first trusted_masks (the trained k_max - 1) only propose, even above tau.
    // A verifying pass carries proposals and drafts before its masks, so auto sizes it past the trained k_max; the
    // masks that then reach untrained slots have never been taught, and a confident row there is checked first.
    int trusted_masks = 32;
    // Top-1 rows computed in llama.cpp's graph (device_rows.h): -1 as Decoder::use_device_rows last said, 0 off,
    // 1 on. A generation that samples or penalises repeats reads whole rows and runs without them.
    int device_rows = -1;
};

// What one pass did, for tests that check the loop's bookkeeping pass by pass.
struct PassTrace {
    int fed;          // tokens fed (pending + proposals + masks)
    int masks;
    int proposals;    // lossless: proposals verified by this pass
    int verified;     // lossless: ... of which the prefix that matched
    int emitted;      // tokens this pass emitted
    int cached;       // tokens in the KV cache after the pass
    int kv_pos_max;   // llama_memory_seq_pos_max after the pass (cached - 1 when consistent)
    int pending;      // emitted tokens waiting to be fed
    double seconds;   // the pass's wall time, as the throughput guard times it
    bool prefill;     // the prompt's pass
    bool guard_masks; // the throughput guard allowed masks for this pass (policy runs only)
};

struct DecodeStats {
    int prompt_tokens = 0;       // prompt tokens given
    int reused_tokens = 0;       // prompt tokens whose KV was kept from the previous generation
    int generated = 0;           // tokens emitted
    int passes = 0;              // llama_decode calls that produced tokens (prefill counts once)
    int first_pass_tokens = 0;   // tokens emitted by the prefill pass
    int fed_tokens = 0;          // tokens fed to decode passes after prefill (pending + masks)
    double prefill_s = 0.0;      // prompt prefill, first pass included
    double decode_s = 0.0;       // every later pass
    double llama_decode_s = 0.0;  // ... of which inside llama_decode (the rest is the loop's overhead)
    bool device_rows = false;    // top-1 rows computed on llama.cpp's device (device_rows.h)
    int mask_tokens = 0;         // tokens emitted from mask rows
    int checked = 0;             // mask tokens verified by a later pass
    int agreed = 0;              // ... that equal the model's greedy choice
    std::vector<int> accept_hist;  // accept_hist[a] = passes that emitted a tokens
    std::vector<int> masks_hist;   // masks_hist[m] = passes that appended m masks
    int guard_plain_passes = 0;    // auto: passes the throughput guard ran plain (masks measured slower)
    double shape_switch_ms = 0.0;  // auto: what a change of pass size costs here, as measured so far (ms)
    // Lossless mode.
    int proposed = 0, proposals_accepted = 0;
    int lookup_proposed = 0, lookup_accepted = 0;  // prompt-lookup drafts among them
    std::vector<int> proposed_at, accepted_at;  // per proposal position
    std::vector<PassTrace> trace;               // filled when DecodeParams::trace is set
};

// What a generation's acceptance estimate and throughput guard were gathered under; a later generation with the
// same key starts from them. The acceptance depends on the accept rule; the guard's timings also depend on the
// pass regime: a varying-shape loop on a GPU pays a graph capture per pass and a tracked one reads every row, so
// those are part of the key (sharing them let the bench's varying-shape rows teach the fixed-shape `auto` at the
// same tau that masks do not pay: plain on 96% of its passes on an H200, session 6).
struct RuleKey {
    AcceptMode mode = AcceptMode::ConfAdapt;
    float tau = -1.0f;
    float propose_tau = -1.0f;
    int32_t mask_id = -1;
    bool mask_range = false;
    int max_masks = 0;
    bool fixed_shape = false;
    bool track_agreement = false;
    // The cost-aware policy (a pass-cost curve) and a fixed k_max keep apart: with the same bound they shared one
    // memory, so auto inherited a fixed k_max = 6 run's 6-token pass size and its guard's verdict on 6-token
    // passes (the bench runs k_max = 6 just before auto: H200 chat, session 16, auto plain on 75-85% of passes
    // where 4-token ones paid 1.29-1.33x).
    bool cost_aware = false;
    // Prompt-lookup drafts change what a pass with masks yields, so the guard's timings too; device rows what a
    // pass costs.
    bool lookup = false;
    bool device_rows = false;
    bool operator==(const RuleKey &o) const {
        return mode == o.mode && tau == o.tau && propose_tau == o.propose_tau && mask_id == o.mask_id &&
               mask_range == o.mask_range && max_masks == o.max_masks && fixed_shape == o.fixed_shape &&
               track_agreement == o.track_agreement && cost_aware == o.cost_aware &&
               lookup == o.lookup && device_rows == o.device_rows;
    }
};
RuleKey rule_key(const DecodeParams &params);

// hist[index] += 1, the histogram grown as needed.
inline void bump(std::vector<int> &hist, int index) {
    if (static_cast<int>(hist.size()) <= index) hist.resize(index + 1, 0);
    hist[index] += 1;
}

class Decoder {
public:
    // `lib_handle`: dlopen handle of llama-cpp-python's libllama; `ctx`: its llama_context pointer.
    Decoder(uintptr_t lib_handle, uintptr_t ctx);
    ~Decoder();
    Decoder(const Decoder &) = delete;
    Decoder &operator=(const Decoder &) = delete;

    // Start a generation. The first `n_keep` prompt tokens' KV from the previous generation is kept.
    void begin(const std::vector<int32_t> &prompt, int n_keep, const DecodeParams &params);
    // One pass; returns the tokens it emitted (possibly none when generation ends).
    std::vector<int32_t> step();
    // Steps until done; returns every emitted token.
    std::vector<int32_t> run();

    bool done() const { return done_; }
    const std::string &stop_reason() const { return stop_reason_; }
    const DecodeStats &stats() const { return stats_; }
    // Tokens whose KV is in the cache, in position order (for prefix reuse by the next generation).
    const std::vector<int32_t> &cached_tokens() const { return cached_; }
    int n_vocab() const { return n_vocab_; }
    int n_ctx() const { return n_ctx_; }
    // Drop the whole KV cache (e.g. after an error or when another user touched the context).
    void clear_cache();
    // Whether a generation under `params` would start from an earlier generation's acceptance and guard memory.
    bool remembers(const DecodeParams &params) const;
    // Compute greedy generations' top-1 rows in llama.cpp's graph (device_rows.h) instead of copying every row's
    // logits to the host: attached at once (so that calibration times the loop's graph) and at every greedy
    // generation's start, detached for one that samples. Returns whether it is attached (false where this
    // libllama cannot).
    bool use_device_rows(bool on);
    bool device_rows() const { return device_rows_.attached(); }
    static constexpr size_t kMostRules = 64;  // rules whose memory is kept, least recently used dropped first

private:
    struct Row { int32_t token; float prob; };

    int choose_masks();
    void record_acceptance(int masks, int accepted);  // the estimate's and the probe schedule's
    void start_estimate();
    void file_memory();
    void decode_chunk(const int32_t *tokens, int n, int pos, int first_output);
    const float *row_logits(int batch_index) const;
    int32_t argmax(int batch_index) const;  // top-1 token only (no softmax)
    Row top1(int batch_index) const;        // top-1 token and its probability
    int32_t sample_first(int batch_index);
    // params.device_rows as begin() resolves it: 1 where asked (or by use_device_rows) and the generation reads
    // only top-1 rows, else 0.
    int resolved_device_rows(const DecodeParams &params) const;
    int accept_lossy(int masks, int first_row, std::vector<int32_t> &out);
    int accept_verifying(int masks, int first_row, std::vector<int32_t> &out);  // lossless, confadapt_verify
    std::vector<int32_t> finish_pass(std::vector<int32_t> emitted, int n_already_cached);
    void setup_sampler();
    void free_sampler();

    LlamaApi api_;
    llama_context *ctx_;
    DeviceRows device_rows_;
    bool want_device_rows_ = false;
    const llama_vocab *vocab_;
    int n_vocab_, n_ctx_, n_batch_;

    DecodeParams params_;
    DecodeStats stats_;
    AcceptanceEstimate acceptance_;
    ThroughputGuard guard_;  // auto: measured time per token with and without masks, for acceptance_'s rule
    struct RuleMemory {
        AcceptanceEstimate acceptance;
        ThroughputGuard guard;
        int fixed_pass;  // the pass size the last generation used (fixed_shape, next_fixed_pass), else 0
        AcceptanceEstimate drafts;  // prompt lookup's
    };
    RuleKey estimate_key_;                                   // acceptance_'s rule
    using Memories = std::vector<std::pair<RuleKey, RuleMemory>>;
    Memories estimates_;  // other rules' estimates, least recent first
    Memories::const_iterator memory_of(const RuleKey &key) const;
    ProbeSchedule probes_;         // probes while the cost-aware policy picks plain decoding
    int fixed_pass_ = 0;           // fixed_shape: the tokens of every pass with masks, this generation; else 0
    bool masks_can_pay_ = true;    // the policy could choose masks on this curve at all (masks_can_pay)
    // What a change of pass size costs on this machine (ms, the curve's unit), measured on the loop's own passes:
    // the first two passes of a new size beyond two steady ones (CUDA: ~9 ms, a CPU: ~0). Every generation
    // measures one (the prompt's pass has another size); kept across generations.
    double switch_cost_ms_ = 0.0;
    bool switch_measured_ = false;
    int last_fed_ = 0;              // the previous pass's size
    int new_size_passes_ = 0;       // passes of the current size timed since it began (0: not measuring)
    double new_size_ms_ = 0.0;      // their time so far
    void measure_shape_switch(int n_fed, double seconds);
    std::vector<int32_t> cached_;        // KV-committed tokens
    std::vector<int32_t> fed_;           // the tokens of the current pass (kept to avoid reallocating)
    std::vector<int32_t> pending_;       // emitted, not yet in the KV cache
    std::vector<char> pending_from_mask_;
    std::vector<int32_t> proposals_;     // lossless, confadapt_verify: proposed, not yet verified or emitted
    std::vector<std::vector<float>> proposal_q_;  // lossless sampling: proposal distributions
    int proposal_masks_ = 0;             // masks appended by the pass that made proposals_
    int proposal_direct_ = 0;            // ConfAdaptVerify: ... of which emitted at once, before the proposals
    int mask_proposals_ = 0;             // proposals_ from mask rows; the prompt-lookup drafts follow them
    std::vector<int32_t> lookup_draft(int most);  // prompt lookup's draft of at most `most` tokens
    std::vector<int32_t> lookup_text_;   // lookup_draft's scratch copy of the text so far
    // P(draft token i verified | the ones before it were), kept per rule like acceptance_; the prior is what drafts
    // did in session 17's runs (53% of draft tokens verified on GSM8K, 67% on chat), above the masks' prior of 0.5
    // so that drafts are tried until the masks show they do better.
    static AcceptanceEstimate draft_prior() { return AcceptanceEstimate(16, 0.6, 2.0); }
    AcceptanceEstimate draft_acceptance_ = draft_prior();
    bool prefilling_ = false, done_ = true;
    std::string stop_reason_;
    int pass_index_ = 0;

    llama_batch batch_{};
    int batch_capacity_ = 0;
    llama_sampler *sampler_ = nullptr;     // full chain for lossy sampling
    llama_sampler *transform_ = nullptr;   // chain without the final draw, for lossless sampling
    std::mt19937 rng_;
    std::vector<llama_token_data> scratch_;
};

}  // namespace mtp
