// The device sampler: llama.cpp's backend sampling interface, implemented for "top-1 and its probability".
#include "device_rows.h"

#include <dlfcn.h>

#include <stdexcept>
#include <string>

// llama.h's backend sampling types, as the llama.cpp of llama-cpp-python 0.3.36 declares them (field order is ABI).
struct ggml_context;
struct ggml_tensor;
struct ggml_cgraph;
struct ggml_backend_buffer_type;

namespace mtp {

struct llama_sampler_data {
    ggml_tensor *logits;
    ggml_tensor *probs;
    ggml_tensor *sampled;
    ggml_tensor *candidates;
};

struct llama_sampler_i {
    const char *(*name)(const llama_sampler *);
    void (*accept)(llama_sampler *, llama_token);
    void (*apply)(llama_sampler *, llama_token_data_array *);
    void (*reset)(llama_sampler *);
    llama_sampler *(*clone)(const llama_sampler *);
    void (*free)(llama_sampler *);
    bool (*backend_init)(llama_sampler *, ggml_backend_buffer_type *, uint32_t);
    void (*backend_accept)(llama_sampler *, ggml_context *, ggml_cgraph *, ggml_tensor *);
    void (*backend_apply)(llama_sampler *, ggml_context *, ggml_cgraph *, llama_sampler_data *);
    void (*backend_set_input)(llama_sampler *);
    void (*backend_reset)(llama_sampler *);
    void (*copy_state)(const llama_sampler *, llama_sampler *);
};

namespace {

// The ggml graph functions the sampler's graph uses; one libggml per process, so resolved once into a static.
struct GgmlOps {
    ggml_tensor *(*soft_max)(ggml_context *, ggml_tensor *);
    ggml_tensor *(*argmax)(ggml_context *, ggml_tensor *);
    ggml_tensor *(*get_rows)(ggml_context *, ggml_tensor *, ggml_tensor *);
    ggml_tensor *(*reshape_2d)(ggml_context *, ggml_tensor *, int64_t, int64_t);
    int64_t (*nelements)(const ggml_tensor *);
};
GgmlOps ggml{};

template <typename Fn>
bool find(void *handle, Fn &slot, const char *name) {
    slot = reinterpret_cast<Fn>(dlsym(handle, name));
    return slot != nullptr;
}

const char *top1_name(const llama_sampler *) { return "mtp-edge top-1"; }

// On the host (never called by the decoder, which reads the device's result): the argmax, first wins.
void top1_apply(llama_sampler *, llama_token_data_array *cur) {
    cur->selected = 0;
    for (size_t i = 1; i < cur->size; ++i) {
        if (cur->data[i].logit > cur->data[cur->selected].logit) cur->selected = static_cast<int64_t>(i);
    }
}

// Any backend: the three ops are in every ggml backend, and the scheduler runs an unsupported one on the CPU.
bool top1_init(llama_sampler *, ggml_backend_buffer_type *, uint32_t) { return true; }

// One output row (`data->logits`, the whole vocabulary): sampled = its argmax, probs = softmax at the argmax.
void top1_graph(llama_sampler *, ggml_context *ctx, ggml_cgraph *, llama_sampler_data *data) {
    const int64_t n_vocab = ggml.nelements(data->logits);
    ggml_tensor *best = ggml.argmax(ctx, data->logits);  // a 1 x n_vocab matrix: one index
    ggml_tensor *probs = ggml.soft_max(ctx, data->logits);
    data->probs = ggml.get_rows(ctx, ggml.reshape_2d(ctx, probs, 1, n_vocab), best);
    data->sampled = best;
}

void top1_copy_state(const llama_sampler *, llama_sampler *) {}  // stateless

// ctx stays null: a stateless sampler with a null ctx is cloned and freed by llama.cpp itself.
llama_sampler_i top1_iface = {
    top1_name, nullptr, top1_apply, nullptr, nullptr, nullptr,
    top1_init, nullptr, top1_graph, nullptr, nullptr, top1_copy_state,
};

}  // namespace

DeviceRows::DeviceRows(void *handle, const LlamaApi &api, llama_context *ctx) : api_(api), ctx_(ctx) {
    available_ = find(handle, ggml.soft_max, "ggml_soft_max") && find(handle, ggml.argmax, "ggml_argmax") &&
                 find(handle, ggml.get_rows, "ggml_get_rows") && find(handle, ggml.reshape_2d, "ggml_reshape_2d") &&
                 find(handle, ggml.nelements, "ggml_nelements");
}

DeviceRows::~DeviceRows() { attach(false); }

bool DeviceRows::attach(bool on) {
    if (on == attached() || (on && !available_)) return attached();
    if (!on) {
        api_.set_sampler(ctx_, 0, nullptr);
        api_.sampler_free(chain_);  // a chain initialises its backend part once: every attachment takes a new one
        chain_ = nullptr;
        return false;
    }
    llama_sampler *chain = api_.sampler_chain_init(api_.sampler_chain_default_params());
    api_.sampler_chain_add(chain, api_.sampler_init(&top1_iface, nullptr));
    if (!api_.set_sampler(ctx_, 0, chain)) {  // llama.cpp would run it on the host: no gain, and logits are gone
        api_.set_sampler(ctx_, 0, nullptr);
        api_.sampler_free(chain);
        return false;
    }
    chain_ = chain;
    return true;
}

int32_t DeviceRows::token(int batch_index) const {
    const llama_token t = api_.get_sampled_token_ith(ctx_, batch_index);
    if (t < 0) throw std::runtime_error("llama.cpp sampled no token for row " + std::to_string(batch_index));
    return t;
}

float DeviceRows::prob(int batch_index) const {
    const float *p = api_.get_sampled_probs_ith(ctx_, batch_index);
    if (p == nullptr) throw std::runtime_error("llama.cpp sampled no probability for row " + std::to_string(batch_index));
    return p[0];
}

}  // namespace mtp
