"""`mtp-edge demo`: builds once into a fresh cache, reuses it, rebuilds for a new adapter, never leaves junk."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from product_util import THREADS, cli_env, make_token_adapter, mtp_edge_cmd


def demo(cache: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(mtp_edge_cmd("demo", "--threads", THREADS, *args), capture_output=True, text=True,
                          env=cli_env(MTP_EDGE_CACHE=str(cache)), timeout=300)


def built(cache: Path) -> list[Path]:
    return sorted((cache / "models").glob("*.gguf"))


def test_fresh_cache_completes_then_the_second_run_reuses_it(tmp_path):
    from mtp_edge import demo as demo_lib

    cache = tmp_path / "cache"
    first = demo(cache, "--prompts", "1", "-n", "4", "--k-max", "3")
    assert first.returncode == 0, first.stderr
    header, rule, *rows = [line for line in first.stdout.splitlines() if "  " in line][-4:]
    assert header.split() == ["prompt", "plain", "tok/s", "MTP", "tok/s", "speedup", "tok/pass", "agreement"]
    assert rows[-1].startswith("all ")
    if demo_lib.installed_adapter() is None:  # before the trained adapter ships: the base, said loudly
        assert "untrained SmolLM2 base" in first.stderr and "plain decoding only" in first.stderr
        assert rows[-1].split()[2:4] == ["n/a", "n/a"] and not (cache / "models").exists()
        return
    assert "Building SmolLM2-135M-Instruct-MTP once" in first.stderr and "untrained" not in first.stderr
    assert rows[-1].split()[3].endswith("x")  # a measured speedup
    [model] = built(cache)
    stamp = model.stat()
    again = demo(cache, "--model-path")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{model}\n" and "Building" not in again.stderr
    assert (model.stat().st_ino, model.stat().st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)


def test_a_new_adapter_rebuilds_and_replaces_the_old_build(tmp_path):
    cache, adapter = tmp_path / "cache", tmp_path / "adapter"
    paths = []
    for seed in (0, 0, 1):  # build, reuse, then new MTP weights: a new cache key
        make_token_adapter(adapter, seed=seed)
        run = demo(cache, "--adapter", str(adapter), "--model-path")
        assert run.returncode == 0, run.stderr
        assert ("Building" in run.stderr) == (len(paths) != 1)
        paths.append(Path(run.stdout.strip()))
    assert paths[0] == paths[1] != paths[2]
    assert built(cache) == [paths[2]]  # the old build was removed
    assert not list((cache / "models").glob(".build-*"))


def test_a_failed_build_leaves_no_file(tmp_path, monkeypatch):
    from mtp_edge import demo as demo_lib
    import mtp_edge.convert as convert

    def broken(src, outfile, **kwargs):
        Path(outfile).write_bytes(b"GGUF half a model")
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build

    monkeypatch.setattr(convert, "convert_checkpoint", broken)
    adapter = make_token_adapter(tmp_path / "adapter")
    with pytest.raises(KeyboardInterrupt):
        demo_lib.prepare_model(adapter, cache=tmp_path / "cache", progress=False, log=lambda _: None)
    assert not list((tmp_path / "cache" / "models").iterdir())


def test_bad_options_and_adapters_are_clear_errors(tmp_path):
    for args, words in ((["--prompts", "0"], "--prompts 0: choose 1 to"),
                        (["--k-max", "zero"], "must be an integer >= 1 or 'auto'"),
                        (["--adapter", str(tmp_path)], "holds no MTP adapter")):
        run = demo(tmp_path / "cache", *args)
        assert run.returncode != 0 and words in run.stderr and "Traceback" not in run.stderr


def test_cache_key_follows_adapter_content_and_base(tmp_path):
    from mtp_edge import demo as demo_lib

    base, adapter = demo_lib.base_gguf(), make_token_adapter(tmp_path / "adapter")
    key = demo_lib.cache_key(base, adapter)
    assert demo_lib.cache_key(base, adapter) == key
    other_base = tmp_path / base.name
    other_base.write_bytes(b"GGUF")
    assert demo_lib.cache_key(other_base, adapter) != key
    (adapter / "mtp_config.json").write_text((adapter / "mtp_config.json").read_text().replace("0.9", "0.8"))
    assert demo_lib.cache_key(base, adapter) != key


def _stats(tokens: int, passes: int, seconds: float, agreement: float | None = 1.0):
    from mtp_edge.model import GenerationStats

    return GenerationStats(prompt_tokens=10, reused_tokens=0, tokens=tokens, passes=passes, eff_k=tokens / passes,
                           accept_hist=[], masks_hist=[], prefill_s=seconds / 4, decode_s=seconds * 3 / 4,
                           decode_tps=0.0, agreement=agreement, mask_agreement=None, mask_tokens=0, checked=0)


def test_table_totals_are_token_weighted():
    from mtp_edge.demo import Row, format_table

    rows = [Row("a", "", plain=_stats(100, 100, 2.0), mtp=_stats(100, 50, 1.0, 0.9), same_text=False),
            Row("b", "", plain=_stats(300, 300, 6.0), mtp=_stats(300, 100, 4.0, 1.0), same_text=True)]
    lines = format_table(rows).splitlines()
    assert lines[2].split() == ["a", "50.0", "100.0", "2.00x", "2.00", "90.0%"]
    assert lines[3].split() == ["b", "50.0", "75.0", "1.50x", "3.00", "100.0%"]
    # all: 400 tokens in 8 s vs 5 s, 400 tokens in 150 passes, agreement (90 + 300) / 400
    assert lines[4].split() == ["all", "50.0", "80.0", "1.60x", "2.67", "97.5%"]
    # an answer that ended on its end-of-turn token: 11 tokens produced in 11 passes, 10 of them shown
    ended = dataclasses.replace(_stats(10, 11, 1.0), eff_k=1.0)
    line = format_table([Row("d", "", plain=_stats(10, 10, 1.0), mtp=ended, same_text=True)]).splitlines()[2]
    assert line.split()[4] == "1.00"  # not 10 / 11 = 0.91: a plain-like run reads as one token a pass
    plain_only = format_table([Row("c", "", plain=_stats(10, 10, 1.0), mtp=None, same_text=None)])
    assert plain_only.splitlines()[2].split() == ["c", "10.0", "n/a", "n/a", "1.00", "n/a"]
