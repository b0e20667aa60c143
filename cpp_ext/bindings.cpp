// Python bindings (mtp_edge._core): the decoder, its parameters and stats, and the mask policy.
#include <Python.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "decode_loop.h"
#include "policy.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

mtp::AcceptMode parse_mode(const std::string &mode) {
    if (mode == "confadapt") return mtp::AcceptMode::ConfAdapt;
    if (mode == "static") return mtp::AcceptMode::Static;
    if (mode == "lossless") return mtp::AcceptMode::Lossless;
    if (mode == "confadapt_verify") return mtp::AcceptMode::ConfAdaptVerify;
    throw nb::value_error(("unknown mode '" + mode + "': use confadapt, static, lossless or confadapt_verify").c_str());
}

const char *mode_name(mtp::AcceptMode mode) {
    switch (mode) {
        case mtp::AcceptMode::Static: return "static";
        case mtp::AcceptMode::Lossless: return "lossless";
        case mtp::AcceptMode::ConfAdaptVerify: return "confadapt_verify";
        default: return "confadapt";
    }
}

nb::dict stats_dict(const mtp::DecodeStats &s) {
    nb::dict d;
    d["prompt_tokens"] = s.prompt_tokens;
    d["reused_tokens"] = s.reused_tokens;
    d["generated"] = s.generated;
    d["passes"] = s.passes;
    d["first_pass_tokens"] = s.first_pass_tokens;
    d["fed_tokens"] = s.fed_tokens;
    d["prefill_s"] = s.prefill_s;
    d["decode_s"] = s.decode_s;
    d["llama_decode_s"] = s.llama_decode_s;
    d["device_rows"] = s.device_rows;
    d["mask_tokens"] = s.mask_tokens;
    d["checked"] = s.checked;
    d["agreed"] = s.agreed;
    d["accept_hist"] = s.accept_hist;
    d["masks_hist"] = s.masks_hist;
    d["guard_plain_passes"] = s.guard_plain_passes;
    d["shape_switch_ms"] = s.shape_switch_ms;
    d["proposed"] = s.proposed;
    d["proposals_accepted"] = s.proposals_accepted;
    d["lookup_proposed"] = s.lookup_proposed;
    d["lookup_accepted"] = s.lookup_accepted;
    d["proposed_at"] = s.proposed_at;
    d["accepted_at"] = s.accepted_at;
    nb::list trace;
    for (const auto &t : s.trace) {
        nb::dict row;
        row["fed"] = t.fed;
        row["masks"] = t.masks;
        row["proposals"] = t.proposals;
        row["verified"] = t.verified;
        row["emitted"] = t.emitted;
        row["cached"] = t.cached;
        row["kv_pos_max"] = t.kv_pos_max;
        row["pending"] = t.pending;
        row["seconds"] = t.seconds;
        row["prefill"] = t.prefill;
        row["guard_masks"] = t.guard_masks;
        trace.append(row);
    }
    d["trace"] = trace;
    return d;
}

// Steps until done with the GIL released during each pass, so Ctrl-C and other threads get through.
std::vector<int32_t> run_interruptible(mtp::Decoder &decoder) {
    std::vector<int32_t> all;
    while (!decoder.done()) {
        std::vector<int32_t> tokens;
        {
            nb::gil_scoped_release release;
            tokens = decoder.step();
        }
        all.insert(all.end(), tokens.begin(), tokens.end());
        if (PyErr_CheckSignals() != 0) throw nb::python_error();
    }
    return all;
}

}  // namespace

NB_MODULE(_core, m) {
    m.doc() = "mtp-edge's C++ decode loop over llama.cpp";

    nb::class_<mtp::DecodeParams>(m, "DecodeParams")
        .def(nb::init<>())
        .def_prop_rw("mode", [](const mtp::DecodeParams &p) { return std::string(mode_name(p.mode)); },
                     [](mtp::DecodeParams &p, const std::string &v) { p.mode = parse_mode(v); })
        .def_rw("k_max", &mtp::DecodeParams::k_max)
        .def_rw("tau", &mtp::DecodeParams::tau)
        .def_rw("propose_tau", &mtp::DecodeParams::propose_tau)
        .def_rw("mask_id", &mtp::DecodeParams::mask_id)
        .def_rw("mask_range", &mtp::DecodeParams::mask_range)
        .def_rw("max_tokens", &mtp::DecodeParams::max_tokens)
        .def_rw("stop_ids", &mtp::DecodeParams::stop_ids)
        .def_rw("track_agreement", &mtp::DecodeParams::track_agreement)
        .def_rw("pass_cost", &mtp::DecodeParams::pass_cost)
        .def_rw("temperature", &mtp::DecodeParams::temperature)
        .def_rw("top_k", &mtp::DecodeParams::top_k)
        .def_rw("top_p", &mtp::DecodeParams::top_p)
        .def_rw("min_p", &mtp::DecodeParams::min_p)
        .def_rw("repeat_penalty", &mtp::DecodeParams::repeat_penalty)
        .def_rw("repeat_last_n", &mtp::DecodeParams::repeat_last_n)
        .def_rw("seed", &mtp::DecodeParams::seed)
        .def_rw("trace", &mtp::DecodeParams::trace)
        .def_rw("fixed_shape", &mtp::DecodeParams::fixed_shape)
        .def_rw("lookup_tokens", &mtp::DecodeParams::lookup_tokens)
        .def_rw("trusted_masks", &mtp::DecodeParams::trusted_masks)
        .def_rw("device_rows", &mtp::DecodeParams::device_rows)
        .def_rw("lookup_ngram", &mtp::DecodeParams::lookup_ngram);

    nb::class_<mtp::Decoder>(m, "Decoder")
        .def(nb::init<uintptr_t, uintptr_t>(), "lib_handle"_a, "ctx"_a)
        .def("begin", &mtp::Decoder::begin, "prompt"_a, "n_keep"_a, "params"_a)
        .def("step", &mtp::Decoder::step, nb::call_guard<nb::gil_scoped_release>())
        .def("run", &run_interruptible)
        .def("clear_cache", &mtp::Decoder::clear_cache)
        .def("use_device_rows", &mtp::Decoder::use_device_rows, "on"_a,
             "Compute greedy generations' top-1 rows on llama.cpp's device; returns whether that is on now.")
        .def_prop_ro("device_rows", &mtp::Decoder::device_rows)
        .def("remembers", &mtp::Decoder::remembers, "params"_a,
             "Whether a generation under `params` starts from an earlier one's acceptance and guard memory.")
        .def_ro_static("most_rules", &mtp::Decoder::kMostRules)
        .def_prop_ro("done", &mtp::Decoder::done)
        .def_prop_ro("stop_reason", &mtp::Decoder::stop_reason)
        .def_prop_ro("stats", [](const mtp::Decoder &d) { return stats_dict(d.stats()); })
        .def_prop_ro("cached_tokens", &mtp::Decoder::cached_tokens)
        .def_prop_ro("n_vocab", &mtp::Decoder::n_vocab)
        .def_prop_ro("n_ctx", &mtp::Decoder::n_ctx);

    nb::class_<mtp::AcceptanceEstimate>(m, "AcceptanceEstimate")
        .def(nb::init<int, double, double>(), "max_masks"_a = 32, "prior_accept"_a = 0.5, "prior_weight"_a = 2.0)
        .def("record", &mtp::AcceptanceEstimate::record, "masks"_a, "accepted"_a)
        .def("conditional", &mtp::AcceptanceEstimate::conditional, "j"_a)
        .def("tries", &mtp::AcceptanceEstimate::tries, "j"_a)
        .def("scale", &mtp::AcceptanceEstimate::scale, "factor"_a);
    nb::class_<mtp::ProbeSchedule>(m, "ProbeSchedule")
        .def(nb::init<int, int>(), "interval"_a = 16, "most"_a = 1)
        .def("next_plain_pass", &mtp::ProbeSchedule::next_plain_pass)
        .def("policy_chose_masks", &mtp::ProbeSchedule::policy_chose_masks)
        .def("record", &mtp::ProbeSchedule::record, "masks"_a, "accepted"_a)
        .def_prop_ro("interval", &mtp::ProbeSchedule::interval);
    nb::class_<mtp::ThroughputGuard>(m, "ThroughputGuard")
        .def(nb::init<double, int, double, double>(), "yield_decay"_a = mtp::ThroughputGuard::kYieldDecay,
             "first_masks_windows"_a = mtp::ThroughputGuard::kFirstMasksWindows,
             "masks_margin"_a = mtp::ThroughputGuard::kMasksMargin,
             "cost_decay"_a = mtp::ThroughputGuard::kCostDecay)
        .def_ro_static("first_masks_windows", &mtp::ThroughputGuard::kFirstMasksWindows)
        .def_prop_ro("masks_allowed", &mtp::ThroughputGuard::masks_allowed)
        .def("record", &mtp::ThroughputGuard::record, "seconds"_a, "tokens"_a)
        .def("begin_generation", &mtp::ThroughputGuard::begin_generation)
        .def("set_switch_cost", &mtp::ThroughputGuard::set_switch_cost, "seconds"_a)
        .def("seconds_per_token", &mtp::ThroughputGuard::seconds_per_token, "masks"_a);
    m.def("same_rule_memory",
          [](const mtp::DecodeParams &a, const mtp::DecodeParams &b) { return mtp::rule_key(a) == mtp::rule_key(b); },
          "a"_a, "b"_a, "Whether a generation under `b` starts from the acceptance and guard memory of one under `a`.");
    m.def("masks_can_pay", &mtp::masks_can_pay, "cost"_a, "max_masks"_a, "fixed_pass"_a = 0,
          "Whether the policy would choose masks on this curve if every mask were accepted.");
    m.def("prompt_pass_masks", &mtp::prompt_pass_masks, "cost"_a, "n_prompt"_a, "most"_a, "budget"_a = 0.03,
          "Masks on the prompt's pass: the most whose extra cost stays within `budget` of the pass.");
    m.def("probe_interval", &mtp::probe_interval, "cost"_a, "probe_pass"_a = 2, "switch_cost"_a = 0.0,
          "Plain passes between probes when the cost-aware policy picks plain decoding (switch_cost: "
          "what a change of pass size costs, in the curve's unit).");
    m.def("best_fixed_pass", &mtp::best_fixed_pass, "cost"_a, "estimate"_a, "k_max"_a, "current"_a = 0,
          "margin"_a = 0.0,
          "The pass size (2..k_max) with the most expected tokens per unit of cost, for one-shape passes; with "
          "`current`, that size unless the best is expected to be more than `margin` faster.");
    m.attr("PASS_CHANGE_MARGIN") = mtp::kPassChangeMargin;
    m.attr("PASS_RESIZE_EVIDENCE") = mtp::kPassResizeEvidence;
    m.attr("PRIOR_TIE_MARGIN") = mtp::kPriorTieMargin;
    m.def("prior_fixed_pass", &mtp::prior_fixed_pass, "cost"_a, "k_max"_a, "prior_tie"_a = mtp::kPriorTieMargin,
          "The pass size the prior picks (every mask at 0.5): the smallest within `prior_tie` of the best.");
    m.attr("GUARD_MASKS_MARGIN") = mtp::ThroughputGuard::kMasksMargin;
    m.def("next_fixed_pass", &mtp::next_fixed_pass, "cost"_a, "estimate"_a, "k_max"_a, "current"_a = 0,
          "prior_tie"_a = mtp::kPriorTieMargin,
          "The pass size of a new generation of one-shape passes: the prior's choice until the estimate rests on "
          "enough passes, then best_fixed_pass from `current` with PASS_CHANGE_MARGIN.");
    m.def("expected_tokens", &mtp::expected_tokens, "estimate"_a, "masks"_a);
    m.def("lookup_draft_length", &mtp::lookup_draft_length, "drafts"_a, "masks"_a, "available"_a, "slots"_a,
          "How many of `available` prompt-lookup draft tokens to feed in a pass whose masks would fill `slots`.");
    m.def("choose_masks", &mtp::choose_masks, "cost"_a, "estimate"_a, "max_masks"_a, "fixed_pass"_a = 0,
          "Masks (0 = plain decoding) maximising expected tokens per unit of cost; fixed_pass > 0: every pass "
          "with masks feeds that many tokens.");
}
