// The slice of llama.cpp's C API that the MTP decode loop calls, resolved at run time.
//
// The extension never links libllama: llama-cpp-python has already loaded one copy, and a second copy
// would hold its own backend state. Python hands us the dlopen handle of that copy, and every function
// below is looked up in it with dlsym. The declarations follow llama.h of the llama.cpp that
// llama-cpp-python 0.3.36 vendors; mtp_edge/_abi.py refuses any other version at import.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mtp {

using llama_token = int32_t;
using llama_pos = int32_t;
using llama_seq_id = int32_t;

struct llama_context;
struct llama_model;
struct llama_vocab;
struct llama_memory_i;
struct llama_sampler;
struct llama_sampler_i;  // device_rows.cpp defines it (llama.h's backend sampling interface)
using llama_memory_t = llama_memory_i *;

struct llama_batch {
    int32_t n_tokens;
    llama_token *token;
    float *embd;
    llama_pos *pos;
    int32_t *n_seq_id;
    llama_seq_id **seq_id;
    int8_t *logits;
};

struct llama_token_data {
    llama_token id;
    float logit;
    float p;
};

struct llama_token_data_array {
    llama_token_data *data;
    size_t size;
    int64_t selected;
    bool sorted;
};

struct llama_sampler_chain_params {
    bool no_perf;
};

// One pointer per C function; `resolve` fills them all or throws naming the missing symbol.
struct LlamaApi {
    int32_t (*decode)(llama_context *, llama_batch);
    float *(*get_logits_ith)(llama_context *, int32_t);
    void (*synchronize)(llama_context *);
    uint32_t (*n_ctx)(const llama_context *);
    uint32_t (*n_batch)(const llama_context *);
    const llama_model *(*get_model)(const llama_context *);
    llama_memory_t (*get_memory)(const llama_context *);
    bool (*memory_seq_rm)(llama_memory_t, llama_seq_id, llama_pos, llama_pos);
    llama_pos (*memory_seq_pos_max)(llama_memory_t, llama_seq_id);
    void (*memory_clear)(llama_memory_t, bool);
    const llama_vocab *(*model_get_vocab)(const llama_model *);
    int32_t (*vocab_n_tokens)(const llama_vocab *);
    bool (*vocab_is_eog)(const llama_vocab *, llama_token);
    llama_sampler_chain_params (*sampler_chain_default_params)();
    llama_sampler *(*sampler_chain_init)(llama_sampler_chain_params);
    void (*sampler_chain_add)(llama_sampler *, llama_sampler *);
    llama_sampler *(*sampler_init_penalties)(int32_t n_vocab, int32_t last_n, float repeat, float freq, float present);
    llama_sampler *(*sampler_init_top_k)(int32_t);
    llama_sampler *(*sampler_init_top_p)(float, size_t);
    llama_sampler *(*sampler_init_min_p)(float, size_t);
    llama_sampler *(*sampler_init_temp)(float);
    llama_sampler *(*sampler_init_dist)(uint32_t);
    void (*sampler_apply)(llama_sampler *, llama_token_data_array *);
    void (*sampler_accept)(llama_sampler *, llama_token);
    void (*sampler_free)(llama_sampler *);
    llama_sampler *(*sampler_init)(llama_sampler_i *, void *);
    // Backend sampling (device_rows.h).
    bool (*set_sampler)(llama_context *, llama_seq_id, llama_sampler *);
    llama_token (*get_sampled_token_ith)(llama_context *, int32_t);
    float *(*get_sampled_probs_ith)(llama_context *, int32_t);

    // Looks every function up in `handle` (a dlopen handle); throws std::runtime_error on a missing one.
    static LlamaApi resolve(void *handle);
};

}  // namespace mtp
