// Resolves the llama.cpp functions the decode loop uses from an already-loaded libllama.
#include "llama_api.h"

#include <dlfcn.h>

#include <stdexcept>

namespace mtp {

namespace {

template <typename Fn>
void bind(void *handle, Fn &slot, const char *name) {
    dlerror();
    void *sym = dlsym(handle, name);
    if (sym == nullptr) {
        throw std::runtime_error(std::string("libllama has no symbol '") + name +
                                 "': llama-cpp-python is not the version mtp-edge was built for");
    }
    slot = reinterpret_cast<Fn>(sym);
}

}  // namespace

LlamaApi LlamaApi::resolve(void *handle) {
    if (handle == nullptr) throw std::runtime_error("null libllama handle");
    LlamaApi api{};
    bind(handle, api.decode, "llama_decode");
    bind(handle, api.get_logits_ith, "llama_get_logits_ith");
    bind(handle, api.synchronize, "llama_synchronize");
    bind(handle, api.n_ctx, "llama_n_ctx");
    bind(handle, api.n_batch, "llama_n_batch");
    bind(handle, api.get_model, "llama_get_model");
    bind(handle, api.get_memory, "llama_get_memory");
    bind(handle, api.memory_seq_rm, "llama_memory_seq_rm");
    bind(handle, api.memory_seq_pos_max, "llama_memory_seq_pos_max");
    bind(handle, api.memory_clear, "llama_memory_clear");
    bind(handle, api.model_get_vocab, "llama_model_get_vocab");
    bind(handle, api.vocab_n_tokens, "llama_vocab_n_tokens");
    bind(handle, api.vocab_is_eog, "llama_vocab_is_eog");
    bind(handle, api.sampler_chain_default_params, "llama_sampler_chain_default_params");
    bind(handle, api.sampler_chain_init, "llama_sampler_chain_init");
    bind(handle, api.sampler_chain_add, "llama_sampler_chain_add");
    bind(handle, api.sampler_init_penalties, "llama_sampler_init_penalties");
    bind(handle, api.sampler_init_top_k, "llama_sampler_init_top_k");
    bind(handle, api.sampler_init_top_p, "llama_sampler_init_top_p");
    bind(handle, api.sampler_init_min_p, "llama_sampler_init_min_p");
    bind(handle, api.sampler_init_temp, "llama_sampler_init_temp");
    bind(handle, api.sampler_init_dist, "llama_sampler_init_dist");
    bind(handle, api.sampler_apply, "llama_sampler_apply");
    bind(handle, api.sampler_accept, "llama_sampler_accept");
    bind(handle, api.sampler_free, "llama_sampler_free");
    bind(handle, api.sampler_init, "llama_sampler_init");
    bind(handle, api.set_sampler, "llama_set_sampler");
    bind(handle, api.get_sampled_token_ith, "llama_get_sampled_token_ith");
    bind(handle, api.get_sampled_probs_ith, "llama_get_sampled_probs_ith");
    return api;
}

}  // namespace mtp
