// Each pass's top-1 tokens and their probabilities computed where llama.cpp computed the logits.
//
// The greedy loop reads two numbers of a row: its argmax and that token's softmax probability. By default llama.cpp
// copies every output row's logits to the host (the whole vocabulary: 49,152 floats, 192 KiB a row for SmolLM2)
// and the loop reduces them there. With device rows a backend sampler (llama.cpp's backend sampling API) adds a
// softmax, an argmax and a row lookup per output row to the pass's own graph, and only the token and the
// probability come back. Off by default: on an H200 those three kernels a row cost ~0.033 ms more than the copy
// and the host's reductions (a 4-token pass 1.45 against 1.32 ms, SmolLM2 Q8_0; confadapt_verify on GSM8K 1.59x
// against 1.84x plain decoding), and on a 2-core CPU they changed nothing measurable (docs/RESULTS.md, session 20).
// llama.cpp builds the ops row by row (llm_graph_context::build_sampling); one set over all rows is what could pay.
#pragma once

#include <cstdint>

#include "llama_api.h"

namespace mtp {

class DeviceRows {
public:
    // `handle`: the dlopen handle of libllama (ggml's functions are found through it); nothing is attached yet.
    DeviceRows(void *handle, const LlamaApi &api, llama_context *ctx);
    ~DeviceRows();
    DeviceRows(const DeviceRows &) = delete;
    DeviceRows &operator=(const DeviceRows &) = delete;

    // Whether this libllama exports everything the device sampler needs.
    bool available() const { return available_; }
    // Attach the device sampler to sequence 0 (on) or detach it (off); returns whether it is attached. A change
    // makes llama.cpp rebuild its graphs on the next pass; the context then copies no raw logits while attached,
    // so whoever reads logits (sampling, repeat penalties) must detach first.
    bool attach(bool on);
    bool attached() const { return chain_ != nullptr; }
    // The top-1 token of output row `batch_index` of the last pass, and its probability.
    int32_t token(int batch_index) const;
    float prob(int batch_index) const;

private:
    const LlamaApi &api_;
    llama_context *ctx_;
    bool available_ = false;
    llama_sampler *chain_ = nullptr;  // a sampler chain holding the device sampler; one per attachment
};

}  // namespace mtp
