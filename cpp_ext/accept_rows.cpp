// What a pass's rows make of it: reading a row (its argmax and top-1 probability, on the host or from the device
// rows), sampling row 0, and the accept rules: ConfAdapt and static (accept_lossy), lossless and confadapt_verify
// (accept_verifying). The pass loop that calls them is decode_loop.cpp.
#include "decode_loop.h"
#include "logit_rows.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace mtp {

void Decoder::free_sampler() {
    if (sampler_ != nullptr) api_.sampler_free(sampler_);
    if (transform_ != nullptr) api_.sampler_free(transform_);
    sampler_ = transform_ = nullptr;
}

void Decoder::setup_sampler() {
    free_sampler();
    const bool sampling = params_.temperature > 0.0f;
    rng_.seed(params_.seed == 0xFFFFFFFFu ? std::random_device{}() : params_.seed);
    if (params_.mode == AcceptMode::Lossless) {
        // Lossless sampling draws with our own RNG from the transformed target distribution.
        if (!sampling) return;
        transform_ = api_.sampler_chain_init(api_.sampler_chain_default_params());
        api_.sampler_chain_add(transform_, api_.sampler_init_top_k(params_.top_k));
        api_.sampler_chain_add(transform_, api_.sampler_init_top_p(params_.top_p, 1));
        api_.sampler_chain_add(transform_, api_.sampler_init_min_p(params_.min_p, 1));
        api_.sampler_chain_add(transform_, api_.sampler_init_temp(params_.temperature));
        return;
    }
    if (!sampling && params_.repeat_penalty == 1.0f) return;  // plain argmax, no chain needed
    sampler_ = api_.sampler_chain_init(api_.sampler_chain_default_params());
    if (params_.repeat_penalty != 1.0f) {
        api_.sampler_chain_add(sampler_, api_.sampler_init_penalties(n_vocab_, params_.repeat_last_n,
                                                                     params_.repeat_penalty, 0.0f, 0.0f));
    }
    if (sampling) {
        api_.sampler_chain_add(sampler_, api_.sampler_init_top_k(params_.top_k));
        api_.sampler_chain_add(sampler_, api_.sampler_init_top_p(params_.top_p, 1));
        api_.sampler_chain_add(sampler_, api_.sampler_init_min_p(params_.min_p, 1));
        api_.sampler_chain_add(sampler_, api_.sampler_init_temp(params_.temperature));
        api_.sampler_chain_add(sampler_, api_.sampler_init_dist(params_.seed));
    } else {
        // Greedy with a repeat penalty: temperature 0 keeps only the top logit.
        api_.sampler_chain_add(sampler_, api_.sampler_init_temp(0.0f));
        api_.sampler_chain_add(sampler_, api_.sampler_init_dist(0));
    }
}

const float *Decoder::row_logits(int batch_index) const {
    const float *logits = api_.get_logits_ith(ctx_, batch_index);
    if (logits == nullptr) throw std::runtime_error("llama.cpp returned no logits for a requested row");
    return logits;
}

int32_t Decoder::argmax(int batch_index) const {
    if (device_rows_.attached()) return device_rows_.token(batch_index);
    const float *logits = row_logits(batch_index);
    return index_of(logits, n_vocab_, max_of(logits, n_vocab_));
}

Decoder::Row Decoder::top1(int batch_index) const {
    if (device_rows_.attached()) return Row{device_rows_.token(batch_index), device_rows_.prob(batch_index)};
    const float *logits = row_logits(batch_index);
    const float best_logit = max_of(logits, n_vocab_);
    return Row{index_of(logits, n_vocab_, best_logit), 1.0f / sum_exp(logits, n_vocab_, best_logit)};
}

int32_t Decoder::sample_first(int batch_index) {
    // The sampler chain over this row's logits; the drawn token is recorded for repeat penalties.
    scratch_.resize(n_vocab_);
    const float *logits = api_.get_logits_ith(ctx_, batch_index);
    for (int v = 0; v < n_vocab_; ++v) scratch_[v] = llama_token_data{v, logits[v], 0.0f};
    llama_token_data_array arr{scratch_.data(), scratch_.size(), -1, false};
    api_.sampler_apply(sampler_, &arr);
    if (arr.selected < 0 || arr.selected >= static_cast<int64_t>(arr.size)) {
        throw std::runtime_error("the sampler chain selected no token");
    }
    const int32_t token = arr.data[arr.selected].id;
    api_.sampler_accept(sampler_, token);
    return token;
}

int Decoder::accept_lossy(int masks, int first_row, std::vector<int32_t> &out) {
    // Row 0 is plain next-token prediction: sample it (or take the argmax). Mask rows extend it
    // greedily, and only when row 0's choice is the argmax the masks were implicitly conditioned on.
    // Rows are read lazily: row 0 needs no probability, static mode none at all, and ConfAdapt stops
    // computing at the first row below tau.
    const int32_t greedy_first = argmax(first_row);
    const int32_t first = sampler_ != nullptr ? sample_first(first_row) : greedy_first;
    out.push_back(first);
    pending_from_mask_.assign(1, 0);
    int accepted_masks = 0;
    if (first == greedy_first) {
        for (int j = 1; j <= masks; ++j) {
            int32_t token;
            if (params_.mode == AcceptMode::ConfAdapt) {
                const Row row = top1(first_row + j);
                if (row.prob < params_.tau) break;
                token = row.token;
            } else {
                token = argmax(first_row + j);
            }
            out.push_back(token);
            pending_from_mask_.push_back(1);
            accepted_masks += 1;
            if (sampler_ != nullptr) api_.sampler_accept(sampler_, token);
        }
    }
    record_acceptance(masks, accepted_masks);
    stats_.mask_tokens += accepted_masks;
    return accepted_masks;
}

int Decoder::accept_verifying(int masks, int first_row, std::vector<int32_t> &out) {
    // Verify the proposals in order against the rows before them; emit the verified prefix plus the
    // model's own token at the first mismatch (or after the last proposal).
    const int n_prop = static_cast<int>(proposals_.size());
    const bool sampling = transform_ != nullptr;
    int verified = 0;
    int32_t next = -1;
    auto target = [&](int row) {
        // The distribution plain sampling would draw from at this row.
        const float *logits = api_.get_logits_ith(ctx_, row);
        scratch_.resize(n_vocab_);
        for (int v = 0; v < n_vocab_; ++v) scratch_[v] = llama_token_data{v, logits[v], 0.0f};
        llama_token_data_array arr{scratch_.data(), scratch_.size(), -1, false};
        api_.sampler_apply(transform_, &arr);
        float max_logit = -INFINITY;
        for (size_t i = 0; i < arr.size; ++i) max_logit = std::max(max_logit, arr.data[i].logit);
        std::vector<std::pair<int32_t, float>> p;
        float sum = 0.0f;
        for (size_t i = 0; i < arr.size; ++i) {
            const float e = std::isinf(arr.data[i].logit) ? 0.0f : std::exp(arr.data[i].logit - max_logit);
            if (e > 0.0f) p.emplace_back(arr.data[i].id, e);
            sum += e;
        }
        for (auto &kv : p) kv.second /= sum;
        return p;
    };
    auto draw = [&](const std::vector<std::pair<int32_t, float>> &dist) {
        float total = 0.0f;
        for (const auto &kv : dist) total += kv.second;
        float u = std::uniform_real_distribution<float>(0.0f, total)(rng_);
        for (const auto &kv : dist) {
            if ((u -= kv.second) <= 0.0f) return kv.first;
        }
        return dist.back().first;
    };
    for (; verified < n_prop; ++verified) {
        const int row = first_row + verified;
        const int32_t proposal = proposals_[verified];
        if (!sampling) {
            const int32_t choice = argmax(row);
            if (choice != proposal) {
                next = choice;
                break;
            }
            continue;
        }
        // Speculative sampling: accept with min(1, p/q), else draw from the residual max(0, p - q).
        const auto p = target(row);
        const std::vector<float> &q = proposal_q_[verified];
        float p_prop = 0.0f;
        for (const auto &kv : p) {
            if (kv.first == proposal) p_prop = kv.second;
        }
        const float u = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng_);
        if (u * q[proposal] <= p_prop) continue;
        std::vector<std::pair<int32_t, float>> residual;
        for (const auto &kv : p) {
            const float r = kv.second - q[kv.first];
            if (r > 0.0f) residual.emplace_back(kv.first, r);
        }
        next = residual.empty() ? draw(p) : draw(residual);
        break;
    }
    if (next < 0) next = sampling ? draw(target(first_row + n_prop)) : argmax(first_row + n_prop);

    stats_.proposed += n_prop;
    stats_.proposals_accepted += verified;
    for (int i = 0; i < n_prop; ++i) bump(stats_.proposed_at, i);
    for (int i = 0; i < verified; ++i) bump(stats_.accepted_at, i);
    stats_.accepted_at.resize(stats_.proposed_at.size(), 0);
    // The estimate judges masks by the tokens they finally gave: those proposed by the last pass's masks and
    // verified now (a mask below tau, or one after an unverified proposal, gave none).
    if (proposal_masks_ > 0) record_acceptance(proposal_masks_, proposal_direct_ + std::min(verified, mask_proposals_));
    // Drafts are tried only when the masks' proposals before them all held.
    const int drafts = n_prop - mask_proposals_;
    if (drafts > 0 && verified >= mask_proposals_) {
        draft_acceptance_.record(drafts, verified - mask_proposals_);
        stats_.lookup_proposed += drafts;
        stats_.lookup_accepted += verified - mask_proposals_;
    }

    out.assign(proposals_.begin(), proposals_.begin() + verified);
    out.push_back(next);
    pending_from_mask_.assign(1, 0);

    // The masks propose only when every earlier token was verified: they were conditioned on them.
    // confadapt_verify first emits ConfAdapt's confident prefix (fed next pass like any emitted token), then
    // proposes the rows after it that clear the lower propose_tau.
    const bool verify_mode = params_.mode == AcceptMode::ConfAdaptVerify;
    const float propose_tau = verify_mode ? params_.propose_tau : params_.tau;
    std::vector<int32_t> new_proposals;
    std::vector<std::vector<float>> new_q;
    int direct = 0;
    if (verified == n_prop) {
        for (int j = 1; j <= masks; ++j) {
            const int row = first_row + n_prop + j;
            const Row r = top1(row);
            if (verify_mode && direct == j - 1 && j <= params_.trusted_masks && r.prob >= params_.tau) {
                out.push_back(r.token);
                pending_from_mask_.push_back(1);
                direct += 1;
                continue;
            }
            if (r.prob < propose_tau) break;
            if (sampling) {
                std::vector<float> q = softmax(api_.get_logits_ith(ctx_, row), n_vocab_, params_.temperature);
                std::discrete_distribution<int32_t> pick(q.begin(), q.end());
                new_proposals.push_back(pick(rng_));
                new_q.push_back(std::move(q));
            } else {
                new_proposals.push_back(r.token);
            }
        }
    }
    // Masks that proposed nothing are judged now by what they emitted, the others when their proposals are checked.
    if (masks > 0 && new_proposals.empty()) record_acceptance(masks, direct);
    stats_.mask_tokens += direct;
    proposal_masks_ = new_proposals.empty() ? 0 : masks;
    proposal_direct_ = direct;
    proposals_ = std::move(new_proposals);
    mask_proposals_ = static_cast<int>(proposals_.size());
    proposal_q_ = std::move(new_q);
    return verified;
}

}  // namespace mtp
