"""Rows reduced ahead: the rows a pass may read, reduced at once on several threads (RowPool), give the accept rules
what reading them one by one gives, pass for pass, in every mode. The CI machine has 2 cores, so the threads are
asked for explicitly (4: more than the cores, which only makes the interleaving more varied)."""

from __future__ import annotations

import pytest

from conftest import PROMPTS
from conftest import chat_ids as chat


def passes(result):
    return [(t["fed"], t["masks"], t["emitted"], t["cached"]) for t in result.stats.trace]


@pytest.mark.parametrize("mode, options", [
    ("confadapt", dict(tau=0.3)),
    ("static", dict()),
    ("lossless", dict(tau=0.05, lookup_tokens=4)),
    ("confadapt_verify", dict(tau=0.3, propose_tau=0.02)),
])
@pytest.mark.parametrize("fixed_shape", (False, True))
def test_rows_reduced_ahead_on_threads_are_the_rows_read_one_by_one(model_f16, mode, options, fixed_shape):
    for prompt in PROMPTS:
        tokens = chat(model_f16, prompt)
        common = dict(k_max=6, mode=mode, trace=True, reuse_cache=False, fixed_shape=fixed_shape, **options)
        serial = model_f16.generate(tokens, 40, row_threads=1, **common)
        threaded = model_f16.generate(tokens, 40, row_threads=4, **common)
        assert threaded.stats.rows_ahead_passes > 0 and serial.stats.rows_ahead_passes == 0
        assert threaded.tokens == serial.tokens
        assert passes(threaded) == passes(serial)
        assert (threaded.stats.mask_tokens, threaded.stats.proposed) == (serial.stats.mask_tokens, serial.stats.proposed)


def test_sampling_reads_whole_rows_with_threads_asked_for(model_f16):
    tokens = chat(model_f16, PROMPTS[0])
    a = model_f16.generate(tokens, 24, k_max=6, temperature=0.7, seed=3, row_threads=4, reuse_cache=False)
    b = model_f16.generate(tokens, 24, k_max=6, temperature=0.7, seed=3, row_threads=1, reuse_cache=False)
    assert a.tokens == b.tokens
    assert a.stats.rows_ahead_passes == 0


@pytest.mark.parametrize("bad", (-1, 65, 1.5, True, "4", None))
def test_row_threads_out_of_range_is_a_clear_error(model_f16, bad):
    with pytest.raises(ValueError, match="row_threads"):
        model_f16.generate("hi", 4, row_threads=bad)
