// The MTP decode loop (METHOD.md section 2), read top to bottom in Decoder::step().
//
// State: `cached_` tokens have their KV in the cache; `pending_` tokens were emitted but not fed yet;
// `proposals_` (lossless and confadapt_verify modes) were proposed by masks but not verified yet. A pass feeds
// pending + proposals + masks, reads the rows it needs, accepts tokens, and removes every mask (and
// every rejected proposal) from the KV cache before the next pass. What a pass's rows make of it (the accept
// rules) is accept_rows.cpp.
#include "decode_loop.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace mtp {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Whether a generation reads rows only for their argmax and top-1 probability: no sampler chain over whole rows
// (the same conditions as Decoder::setup_sampler's).
bool reads_top1_only(const DecodeParams &p) {
    return p.temperature <= 0.0f && (p.mode == AcceptMode::Lossless || p.repeat_penalty == 1.0f);
}

// Modes whose passes verify what earlier passes proposed (and prompt-lookup drafts) before accepting it.
bool verifies(AcceptMode mode) { return mode == AcceptMode::Lossless || mode == AcceptMode::ConfAdaptVerify; }

}  // namespace

Decoder::Decoder(uintptr_t lib_handle, uintptr_t ctx)
    : api_(LlamaApi::resolve(reinterpret_cast<void *>(lib_handle))),
      ctx_(reinterpret_cast<llama_context *>(ctx)),
      device_rows_(reinterpret_cast<void *>(lib_handle), api_, ctx_) {
    if (ctx_ == nullptr) throw std::invalid_argument("null llama_context");
    vocab_ = api_.model_get_vocab(api_.get_model(ctx_));
    n_vocab_ = api_.vocab_n_tokens(vocab_);
    n_ctx_ = static_cast<int>(api_.n_ctx(ctx_));
    n_batch_ = static_cast<int>(api_.n_batch(ctx_));
    batch_capacity_ = n_batch_;
    batch_.token = new llama_token[batch_capacity_];
    batch_.pos = new llama_pos[batch_capacity_];
    batch_.n_seq_id = new int32_t[batch_capacity_];
    batch_.seq_id = new llama_seq_id *[batch_capacity_];
    batch_.logits = new int8_t[batch_capacity_];
    batch_.embd = nullptr;
    for (int i = 0; i < batch_capacity_; ++i) {
        batch_.n_seq_id[i] = 1;
        batch_.seq_id[i] = new llama_seq_id[1]{0};
    }
    // Whatever llama-cpp-python left in the cache is unknown to us: start from an empty one.
    clear_cache();
}

Decoder::~Decoder() {
    free_sampler();
    for (int i = 0; i < batch_capacity_; ++i) delete[] batch_.seq_id[i];
    delete[] batch_.token;
    delete[] batch_.pos;
    delete[] batch_.n_seq_id;
    delete[] batch_.seq_id;
    delete[] batch_.logits;
}

void Decoder::clear_cache() {
    api_.memory_clear(api_.get_memory(ctx_), true);
    cached_.clear();
}

int Decoder::resolved_device_rows(const DecodeParams &params) const {
    // Sampling and repeat penalties read whole rows of logits, which the context copies only without device rows.
    const bool asked = params.device_rows < 0 ? want_device_rows_ : params.device_rows == 1;
    return asked && reads_top1_only(params) && device_rows_.available() ? 1 : 0;
}

bool Decoder::use_device_rows(bool on) {
    // Between generations nothing reads logits: attach now, so that passes timed outside the loop (calibration)
    // run the loop's graph; begin() detaches again for a generation that samples.
    want_device_rows_ = on;
    return device_rows_.attach(on);
}

void Decoder::begin(const std::vector<int32_t> &prompt, int n_keep, const DecodeParams &params) {
    if (prompt.empty()) throw std::invalid_argument("empty prompt");
    if (static_cast<int>(prompt.size()) >= n_ctx_) {
        throw std::invalid_argument("prompt of " + std::to_string(prompt.size()) +
                                    " tokens does not fit the context of " + std::to_string(n_ctx_));
    }
    for (int32_t t : prompt) {
        if (t < 0 || t >= n_vocab_) throw std::invalid_argument("token id " + std::to_string(t) + " outside the vocab");
    }
    params_ = params;
    if (params_.k_max < 1) throw std::invalid_argument("k_max must be >= 1");
    if (params_.k_max > 1 && params_.mask_id < 0) throw std::invalid_argument("k_max > 1 needs a mask token");
    if (params_.mode == AcceptMode::ConfAdaptVerify && (params_.temperature > 0.0f || params_.repeat_penalty != 1.0f)) {
        throw std::invalid_argument("confadapt_verify decodes greedily without a repeat penalty: sample with "
                                    "confadapt or lossless");
    }
    if (params_.lookup_tokens < 0 || params_.lookup_ngram < 2) {
        throw std::invalid_argument("lookup_tokens must be >= 0 and lookup_ngram >= 2");
    }
    if (params_.lookup_tokens > 0 && (!verifies(params_.mode) || params_.temperature > 0.0f)) {
        throw std::invalid_argument("prompt lookup (lookup_tokens > 0) verifies its drafts greedily: use it with "
                                    "mode lossless or confadapt_verify at temperature 0");
    }
    stats_ = DecodeStats{};
    stats_.prompt_tokens = static_cast<int>(prompt.size());
    params_.device_rows = resolved_device_rows(params_);
    start_estimate();
    setup_sampler();
    stats_.device_rows = device_rows_.attach(params_.device_rows == 1);

    // Keep the KV of the longest common prefix (at most n_keep, and never the whole prompt: the
    // last prompt token must be fed to get its logits).
    llama_memory_t mem = api_.get_memory(ctx_);
    if (api_.memory_seq_pos_max(mem, 0) + 1 != static_cast<int>(cached_.size())) cached_.clear();
    int keep = 0;
    const int limit = std::min({n_keep, static_cast<int>(cached_.size()), static_cast<int>(prompt.size()) - 1});
    while (keep < limit && cached_[keep] == prompt[keep]) ++keep;
    api_.memory_seq_rm(mem, 0, keep, -1);
    cached_.resize(keep);
    stats_.reused_tokens = keep;

    pending_.assign(prompt.begin() + keep, prompt.end());
    pending_from_mask_.assign(pending_.size(), 0);
    proposals_.clear();
    proposal_q_.clear();
    proposal_masks_ = proposal_direct_ = mask_proposals_ = 0;
    if (sampler_ != nullptr) {
        for (int32_t t : prompt) api_.sampler_accept(sampler_, t);  // prompt tokens count for repeat penalty
    }
    prefilling_ = true;
    done_ = false;
    stop_reason_.clear();
    pass_index_ = 0;
    if (params_.max_tokens <= 0) {
        done_ = true;
        stop_reason_ = "length";
    }
}

RuleKey rule_key(const DecodeParams &p) {
    const float propose_tau = p.mode == AcceptMode::ConfAdaptVerify ? p.propose_tau : -1.0f;
    return RuleKey{p.mode, p.tau, propose_tau, p.mask_id, p.mask_range, std::max(1, std::min(p.k_max - 1, 32)),
                   p.fixed_shape, p.track_agreement, !p.pass_cost.empty(), p.lookup_tokens > 0, p.device_rows == 1};
}

Decoder::Memories::const_iterator Decoder::memory_of(const RuleKey &key) const {
    return std::find_if(estimates_.begin(), estimates_.end(), [&](const auto &e) { return e.first == key; });
}

void Decoder::file_memory() {
    // The finished generation's memory goes to the back (most recent); past kMostRules rules the least recently
    // used one goes. A fixed cap that refused new rules once full left the bench's timed `auto` rows (its 17th and
    // later rules, after the untimed tracked runs of every mode) starting every generation from nothing (H200,
    // session 9: 16 masked passes, 16 plain, a verdict from one window, on all 36 generations).
    if (estimate_key_.max_masks <= 0) return;
    if (auto old = memory_of(estimate_key_); old != estimates_.end()) estimates_.erase(old);
    if (estimates_.size() >= kMostRules) estimates_.erase(estimates_.begin());
    estimates_.emplace_back(estimate_key_, RuleMemory{acceptance_, guard_, fixed_pass_, draft_acceptance_});
}

bool Decoder::remembers(const DecodeParams &params) const {
    DecodeParams resolved = params;  // keyed as begin() will run it
    resolved.device_rows = resolved_device_rows(params);
    const RuleKey key = rule_key(resolved);
    return memory_of(key) != estimates_.end() || (estimate_key_.max_masks > 0 && estimate_key_ == key);
}

void Decoder::start_estimate() {
    // What earlier generations under the same rule showed about acceptance still holds for this model:
    // keep it (at half weight per generation) instead of starting every generation from the prior, one
    // estimate per rule so that generations under other rules in between do not erase it.
    file_memory();
    const RuleKey key = rule_key(params_);
    auto found = memory_of(key);
    int last_pass = 0;
    if (found != estimates_.end()) {
        last_pass = found->second.fixed_pass;
        acceptance_ = found->second.acceptance;
        acceptance_.scale(0.5);
        guard_ = found->second.guard;  // the costs it measured are the machine's: keep them whole
        draft_acceptance_ = found->second.drafts;
        draft_acceptance_.scale(0.5);
    } else {
        acceptance_ = AcceptanceEstimate(key.max_masks);
        guard_ = ThroughputGuard{};
        draft_acceptance_ = draft_prior();
    }
    estimate_key_ = key;
    // One pass shape for the whole generation (a GPU replays its graph only while the shape holds), sized by what
    // the acceptance so far says pays best on this machine's curve once it rests on enough passes, and kept from
    // the last generation unless another size is clearly better.
    fixed_pass_ = !params_.fixed_shape ? 0 : mtp::next_fixed_pass(params_.pass_cost, acceptance_, params_.k_max, last_pass,
                                                                   verifies(params_.mode) ? 0.0 : kPriorTieMargin);
    // One-shape passes do not probe.
    probes_ = ProbeSchedule(probe_interval(params_.pass_cost, 2, switch_cost_ms_), params_.k_max - 1);
    guard_.begin_generation();
    guard_.set_switch_cost(switch_cost_ms_ * 1e-3);
    stats_.shape_switch_ms = switch_cost_ms_;  // what earlier generations measured, until this one measures
    masks_can_pay_ = params_.pass_cost.empty() ||
                     mtp::masks_can_pay(params_.pass_cost, params_.k_max - 1, params_.fixed_shape ? params_.k_max : 0);
}

int Decoder::choose_masks() {
    const int most = params_.k_max - 1;
    if (params_.pass_cost.empty() || most <= 0) return std::max(most, 0);
    // Where not even accepted masks would pay, decode plainly: no masks on the prompt pass, no probes.
    if (!masks_can_pay_) return 0;
    // The prompt pass is long, so a few masks on it can sample the acceptance at little cost.
    if (prefilling_) {
        const int n = static_cast<int>(pending_.size());
        return mtp::prompt_pass_masks(params_.pass_cost, n, std::min(most, std::max(1, n / 8)));
    }
    if (!guard_.masks_allowed()) {  // plain passes were measured faster than passes with masks, here and now
        stats_.guard_plain_passes += 1;
        return 0;
    }
    // One-shape passes cost the same with any number of masks, and a plain pass between them is a change of shape
    // (two passes' worth on CUDA, twice: out and back): a pass fills its masks, and whether to run plain instead
    // is the guard's call, window by window. Choosing per pass, auto left masks for a few plain passes at each poor
    // stretch and paid the two changes each time (H200, session 9's chat traces, replayed).
    if (fixed_pass_ > 1) return fixed_pass_ - 1;
    const int masks = mtp::choose_masks(params_.pass_cost, acceptance_, most, 0);
    if (masks > 0) {
        probes_.policy_chose_masks();
        return masks;
    }
    return probes_.next_plain_pass();  // plain decoding for a while: now and then a probe (ProbeSchedule)
}

void Decoder::record_acceptance(int masks, int accepted) {
    acceptance_.record(masks, accepted);
    probes_.record(masks, accepted);
}

void Decoder::decode_chunk(const int32_t *tokens, int n, int pos, int first_output) {
    batch_.n_tokens = n;
    for (int i = 0; i < n; ++i) {
        batch_.token[i] = tokens[i];
        batch_.pos[i] = pos + i;
        batch_.logits[i] = i >= first_output ? 1 : 0;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const int32_t rc = api_.decode(ctx_, batch_);
    // A GPU computes asynchronously: wait here (reading a row would anyway) so the timer holds the GPU's time.
    if (rc == 0 && first_output < n) api_.synchronize(ctx_);
    if (!prefilling_) stats_.llama_decode_s += seconds_since(t0);  // the rest of decode_s is the loop's own
    if (rc != 0) {
        throw std::runtime_error("llama_decode failed with status " + std::to_string(rc) +
                                 (rc == 1 ? " (no room in the KV cache)" : ""));
    }
}

std::vector<int32_t> Decoder::lookup_draft(int most) {
    // The text so far: cached, then emitted but not fed, then the masks' proposals (drafts extend past them).
    std::vector<int32_t> &text = lookup_text_;
    text.assign(cached_.begin(), cached_.end());
    text.insert(text.end(), pending_.begin(), pending_.end());
    text.insert(text.end(), proposals_.begin(), proposals_.end());
    const int n_text = static_cast<int>(text.size());
    // The longest n-gram first, its latest earlier occurrence: what followed it there is the draft.
    for (int n = std::min(params_.lookup_ngram, n_text - 1); n >= 2; --n) {
        const int32_t *key = text.data() + n_text - n;
        for (int i = n_text - n - 1; i >= 0; --i) {
            if (!std::equal(key, key + n, text.data() + i)) continue;
            const int from = i + n;
            return std::vector<int32_t>(text.begin() + from, text.begin() + std::min(from + most, n_text));
        }
    }
    return {};
}

std::vector<int32_t> Decoder::step() {
    if (done_) return {};
    const auto t0 = std::chrono::steady_clock::now();
    const int n_pending = static_cast<int>(pending_.size());
    int n_prop = static_cast<int>(proposals_.size());
    const int n_cached = static_cast<int>(cached_.size());

    // How many masks: the policy's choice, within the context, the batch and the vocab's mask range.
    const bool guard_masks = guard_.masks_allowed();
    const int chosen = choose_masks();
    int masks = chosen;
    const bool fixed = params_.fixed_shape && masks > 0 && !prefilling_;  // policy's plain passes stay plain
    if (fixed) masks = std::max(0, fixed_pass_ - n_pending - n_prop);
    masks = std::min(masks, n_ctx_ - n_cached - n_pending - n_prop);
    masks = std::min(masks, n_batch_ - n_prop - 1);
    if (params_.mask_range) masks = std::min(masks, n_vocab_ - params_.mask_id);
    masks = std::max(masks, 0);
    if (chosen > 0 && masks == 0) probes_.record(0, 0);  // a probe the context left no room for: ends the probing
    // Prompt lookup: drafts take slots the masks would fill, so the pass keeps the size the policy chose; the
    // masks after them still predict past them.
    if (params_.lookup_tokens > 0 && masks > 0 && !prefilling_) {
        std::vector<int32_t> draft = lookup_draft(std::min(params_.lookup_tokens, masks));
        draft.resize(lookup_draft_length(draft_acceptance_, acceptance_, static_cast<int>(draft.size()), masks));
        proposals_.insert(proposals_.end(), draft.begin(), draft.end());
        masks -= static_cast<int>(draft.size());
        n_prop += static_cast<int>(draft.size());
    }

    // The rows we read: from the last pending token on; over every re-fed token when checking agreement.
    std::vector<int32_t> &fed = fed_;  // reused across passes: no allocation per pass
    fed.assign(pending_.begin(), pending_.end());
    fed.insert(fed.end(), proposals_.begin(), proposals_.end());
    for (int j = 0; j < masks; ++j) fed.push_back(params_.mask_id + (params_.mask_range ? j : 0));
    const int n_fed = static_cast<int>(fed.size());
    const int n_real = n_pending + n_prop;
    const int last_pending = n_pending - 1;
    int first_output = last_pending;
    if (params_.track_agreement && !prefilling_ && params_.mode != AcceptMode::Lossless) first_output = 0;
    if (fixed) first_output = 0;  // the same output rows every pass, too

    // Feed it: plain n_batch chunks over the real tokens (as llama-cpp-python does), the masks glued
    // onto the last chunk, which must hold every row we read.
    int final_start = n_batch_ * ((n_real - 1) / n_batch_);
    if (n_fed - final_start > n_batch_) final_start = n_fed - n_batch_;
    first_output = std::max(first_output, final_start);
    for (int start = 0; start < final_start; start += n_batch_) {
        decode_chunk(fed.data() + start, std::min(n_batch_, final_start - start), n_cached + start, n_batch_);
    }
    decode_chunk(fed.data() + final_start, n_fed - final_start, n_cached + final_start, first_output - final_start);
    auto row_index = [&](int i) { return i - final_start; };

    // Agreement: the row over pending[i-1] is plain decoding's choice for pending[i].
    for (int i = std::max(1, first_output + 1); i < n_pending && params_.mode != AcceptMode::Lossless; ++i) {
        if (!pending_from_mask_[i]) continue;
        stats_.checked += 1;
        stats_.agreed += argmax(row_index(i - 1)) == pending_[i] ? 1 : 0;
    }

    // Accept tokens, then drop from the KV cache everything that is not a committed token.
    std::vector<int32_t> emitted;
    int committed = n_pending;
    if (verifies(params_.mode)) {
        committed += accept_verifying(masks, row_index(last_pending), emitted);
    } else {
        accept_lossy(masks, row_index(last_pending), emitted);
    }
    api_.memory_seq_rm(api_.get_memory(ctx_), 0, n_cached + committed, -1);
    cached_.insert(cached_.end(), fed.begin(), fed.begin() + committed);

    bump(stats_.masks_hist, masks);
    stats_.passes += 1;
    const double elapsed = seconds_since(t0);
    if (prefilling_) {
        stats_.prefill_s += elapsed;
    } else {
        stats_.decode_s += elapsed;
        stats_.fed_tokens += n_fed;
    }
    std::vector<int32_t> out = finish_pass(std::move(emitted), committed - n_pending);
    if (prefilling_) stats_.first_pass_tokens = static_cast<int>(out.size());
    if (!prefilling_ && !params_.pass_cost.empty()) {
        guard_.record(elapsed, static_cast<int>(out.size()));
        measure_shape_switch(n_fed, elapsed);
    }
    last_fed_ = n_fed;
    if (params_.trace) {
        stats_.trace.push_back(PassTrace{n_fed, masks, n_prop, committed - n_pending, static_cast<int>(out.size()),
                                         static_cast<int>(cached_.size()),
                                         api_.memory_seq_pos_max(api_.get_memory(ctx_), 0),
                                         static_cast<int>(pending_.size()), elapsed, prefilling_, guard_masks});
    }
    prefilling_ = false;
    pass_index_ += 1;
    return out;
}

void Decoder::measure_shape_switch(int n_fed, double seconds) {
    // The first two passes of a new size, less twice the third's (a steady pass of that size): what the change
    // cost, whatever the machine's load makes of the calibrated curve.
    if (n_fed != last_fed_) {  // the first pass of a new size (the first decode pass always is one)
        new_size_passes_ = 1;
        new_size_ms_ = seconds * 1e3;
        return;
    }
    if (new_size_passes_ == 0) return;
    if (++new_size_passes_ < 3) {
        new_size_ms_ += seconds * 1e3;
        return;
    }
    new_size_passes_ = 0;
    const double cost = std::max(0.0, new_size_ms_ - 2.0 * seconds * 1e3);
    switch_cost_ms_ = switch_measured_ ? 0.75 * switch_cost_ms_ + 0.25 * cost : cost;
    switch_measured_ = true;
    stats_.shape_switch_ms = switch_cost_ms_;
    guard_.set_switch_cost(switch_cost_ms_ * 1e-3);
}

std::vector<int32_t> Decoder::finish_pass(std::vector<int32_t> emitted, int n_already_cached) {
    // Stop ids end generation (not emitted), then the token budget, then the context.
    size_t keep = emitted.size();
    for (size_t i = 0; i < emitted.size(); ++i) {
        const int32_t t = emitted[i];
        const bool stop = api_.vocab_is_eog(vocab_, t) ||
                          std::find(params_.stop_ids.begin(), params_.stop_ids.end(), t) != params_.stop_ids.end();
        if (stop) {
            keep = i;
            done_ = true;
            stop_reason_ = "stop";
            break;
        }
    }
    const int budget = params_.max_tokens - stats_.generated;
    if (static_cast<int>(keep) >= budget) {
        if (!done_ || static_cast<int>(keep) > budget) stop_reason_ = "length";
        keep = std::min<size_t>(keep, std::max(budget, 0));
        done_ = true;
    }
    // Prompt plus generated text never exceeds the context (tokens already cached are inside it).
    const int room = n_ctx_ - static_cast<int>(cached_.size()) + n_already_cached;
    if (!done_ && static_cast<int>(keep) >= room) {
        keep = std::max(room, 0);
        done_ = true;
        stop_reason_ = "context";
    }
    emitted.resize(keep);
    // Verified tokens cut off by a stop or the budget leave the cache too: it holds only what was emitted.
    if (static_cast<int>(keep) < n_already_cached) {
        const int drop = n_already_cached - static_cast<int>(keep);
        cached_.resize(cached_.size() - drop);
        api_.memory_seq_rm(api_.get_memory(ctx_), 0, static_cast<int>(cached_.size()), -1);
    }
    // Emitted tokens not yet in the cache are fed by the next pass.
    if (static_cast<int>(keep) > n_already_cached) {
        pending_.assign(emitted.begin() + n_already_cached, emitted.end());
    } else {
        pending_.clear();
    }
    pending_from_mask_.resize(pending_.size(), 0);
    if (done_) proposals_.clear();
    mask_proposals_ = std::min(mask_proposals_, static_cast<int>(proposals_.size()));
    // Proposals that would run past the context are dropped before they are fed.
    const int prop_room = n_ctx_ - static_cast<int>(cached_.size()) - static_cast<int>(pending_.size());
    if (static_cast<int>(proposals_.size()) > prop_room) proposals_.resize(std::max(prop_room, 0));
    mask_proposals_ = std::min(mask_proposals_, static_cast<int>(proposals_.size()));
    stats_.generated += static_cast<int>(emitted.size());
    bump(stats_.accept_hist, static_cast<int>(emitted.size()));
    return emitted;
}

std::vector<int32_t> Decoder::run() {
    std::vector<int32_t> all;
    while (!done_) {
        std::vector<int32_t> tokens = step();
        all.insert(all.end(), tokens.begin(), tokens.end());
    }
    return all;
}

}  // namespace mtp
