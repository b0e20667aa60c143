"""`mtp-edge convert`, then `mtp-edge inspect` and `mtp-edge generate` on the result (the issue's "done when")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_convert_helpers import IN_CI, make_checkpoint, require_llama_cpp


def cli_main():
    try:
        import mtp_edge.convert  # noqa: F401  (the dispatcher imports mtp_edge.convert.cli)
        from mtp_edge.cli import main
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("mtp-edge is not installed")
    return main


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, Path]:
    main = cli_main()
    root = tmp_path_factory.mktemp("cli")
    folder = make_checkpoint(root / "qwen", "qwen")
    out = root / "m.gguf"
    assert main(["convert", str(folder), "--outfile", str(out), "--outtype", "q8_0", "--k-max", "6", "--tau", "0.7",
                 "--quiet"]) == 0
    return folder, out


def test_inspect_shows_what_went_in(converted, capsys):
    folder, out = converted
    capsys.readouterr()
    assert cli_main()(["inspect", str(out), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    tj = json.loads((folder / "tokenizer.json").read_text())
    ids = {t["content"]: t["id"] for t in tj["added_tokens"]}
    assert meta["architecture"] == "qwen3"
    assert meta["mask_token_id"] == ids["<|mtp_special_token_0|>"]
    assert meta["k_max"] == 6 and meta["tau"] == pytest.approx(0.7)
    assert meta["prompt_format"] == "plain"  # the Qwen-like tokenizer has no chat template
    assert meta["stop_token_ids"] == [ids["<|im_end|>"]]
    assert meta["vocab_size"] == json.loads((folder / "config.json").read_text())["vocab_size"]
    assert meta["mtp_version"] == 1


def test_generate_runs_the_converted_file_with_its_mask(converted):
    require_llama_cpp()
    try:
        from mtp_edge.model import MTPModel
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("mtp_edge's runtime (C++ extension) is not built")
    _, out = converted
    model = MTPModel(str(out), n_ctx=256, n_threads=2)
    try:
        assert model.is_mtp
        result = model.generate("Natalia sold 48 clips", max_tokens=12, k_max=4, tau=0.5, mode="static")
        # static k = 4: passes append 3 mask tokens and accept up to 4 tokens (a random model may stop early)
        assert result.stats.tokens >= 1 and result.stats.mask_tokens >= 3
        assert result.stats.tokens > result.stats.passes or result.stop_reason == "stop"
    finally:
        model.close()


def test_convert_draws_no_progress_bar_into_a_log(converted, tmp_path, capfd):
    """Without --quiet and with stderr not a terminal (a log, CI), the byte progress bar stays off: tqdm wrote
    every redraw of it as text there."""
    folder, _ = converted
    capfd.readouterr()
    assert cli_main()(["convert", str(folder), "--outfile", str(tmp_path / "m.gguf"), "--outtype", "f16"]) == 0
    err = capfd.readouterr().err
    assert "%|" not in err and "B/s" not in err, err[-300:]
    assert (tmp_path / "m.gguf").stat().st_size > 0
