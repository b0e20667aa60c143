"""Device rows: greedy passes' top-1 tokens and probabilities computed in llama.cpp's own graph (its backend
sampling, here on the CPU backend) give the loop what the host's reductions of the copied logits give, pass for
pass, and whatever reads whole rows of logits (sampling, repeat penalties) turns them off for its generation."""

from __future__ import annotations

import pytest

from conftest import PROMPTS, STAND_IN_MASK_ID, THREADS, llama_greedy
from conftest import chat_ids as chat


@pytest.fixture(scope="module")
def model_device(smollm2_f16_path):
    from mtp_edge import MTPModel

    m = MTPModel(smollm2_f16_path, n_ctx=1024, n_threads=THREADS, mask_token_id=STAND_IN_MASK_ID, device_rows=True)
    yield m
    m.close()


def passes(result):
    return [(t["fed"], t["masks"], t["emitted"], t["cached"]) for t in result.stats.trace]


def test_device_rows_are_on_where_asked_and_off_by_default_on_a_cpu(model_f16, model_device):
    assert model_device.device_rows
    assert not model_f16.device_rows


def test_plain_greedy_decoding_is_llama_cpp_pythons(model_device, reference_f16):
    for prompt in PROMPTS:
        tokens = chat(model_device, prompt)
        result = model_device.generate(tokens, 40, k_max=1, reuse_cache=False)
        assert result.stats.device_rows
        assert result.tokens == llama_greedy(reference_f16, tokens, 40)


# Low thresholds on the untrained stand-in mask, so that rows are accepted, proposed and rejected: every path
# that reads a probability or an argmax (row 0, mask rows, agreement rows, verified proposals, drafts).
@pytest.mark.parametrize("mode, options", [
    ("confadapt", dict(tau=0.3)),
    ("confadapt", dict(tau=0.9)),
    ("static", dict()),
    ("lossless", dict(tau=0.05, lookup_tokens=0)),
    ("lossless", dict(tau=0.05, lookup_tokens=4)),
    ("confadapt_verify", dict(tau=0.3, propose_tau=0.02)),
])
def test_every_mode_passes_as_with_host_rows(model_f16, model_device, mode, options):
    for prompt in PROMPTS:
        tokens = chat(model_f16, prompt)
        common = dict(k_max=6, mode=mode, trace=True, reuse_cache=False, fixed_shape=False, **options)
        host = model_f16.generate(tokens, 48, **common)
        device = model_device.generate(tokens, 48, **common)
        assert device.stats.device_rows and not host.stats.device_rows
        assert device.tokens == host.tokens
        assert passes(device) == passes(host)
        assert (device.stats.mask_tokens, device.stats.checked) == (host.stats.mask_tokens, host.stats.checked)


def test_one_shape_passes_with_every_row_read_as_with_host_rows(model_f16, model_device):
    tokens = chat(model_f16, PROMPTS[0])
    common = dict(k_max=5, tau=0.3, trace=True, reuse_cache=False, fixed_shape=True)
    assert model_device.generate(tokens, 40, **common).tokens == model_f16.generate(tokens, 40, **common).tokens


def test_sampling_reads_host_rows_and_the_next_greedy_generation_reattaches(model_device, reference_f16):
    tokens = chat(model_device, PROMPTS[1])
    sampled = model_device.generate(tokens, 24, k_max=4, temperature=0.8, seed=7, reuse_cache=False)
    assert not sampled.stats.device_rows and len(sampled.tokens) > 0
    penalised = model_device.generate(tokens, 24, k_max=1, repeat_penalty=1.3, reuse_cache=False)
    assert not penalised.stats.device_rows
    greedy = model_device.generate(tokens, 32, k_max=1, reuse_cache=False)
    assert greedy.stats.device_rows
    assert greedy.tokens == llama_greedy(reference_f16, tokens, 32)
    assert model_device.device_rows


def test_the_calibration_cache_keeps_a_curve_for_each_setting(smollm2_f16_path):
    from mtp_edge import calibrate

    host = calibrate.curve_key(smollm2_f16_path, "CPU", 2, 2, 0)
    device = calibrate.curve_key(smollm2_f16_path, "CPU", 2, 2, 0, device_rows=True)
    assert calibrate.cache_path(host) != calibrate.cache_path(device)


def test_the_rule_memory_is_keyed_by_the_rows_a_generation_ran_with(model_device):
    tokens = chat(model_device, PROMPTS[2])
    model_device.generate(tokens, 8, k_max=4, tau=0.61, reuse_cache=False)  # device rows, as the model was opened
    model_device.generate(tokens, 8, k_max=2, reuse_cache=False)  # files the memory of the run before
    remembers = model_device._decoder.remembers
    assert remembers(model_device._params(2, {"k_max": 4, "tau": 0.61}))
    assert remembers(model_device._params(2, {"k_max": 4, "tau": 0.61, "device_rows": True}))
    assert not remembers(model_device._params(2, {"k_max": 4, "tau": 0.61, "device_rows": False}))
