"""Every bad input named in issue 3 gets a specific message, and no output (or temp file) is left behind."""

from __future__ import annotations

import argparse
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from test_convert_helpers import convert_module, import_convert, make_checkpoint

convert = import_convert()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "llama", "llama", dtype="bfloat16")


@pytest.fixture()
def ckpt(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "model"))


def fails(src, out: Path, exc: type[BaseException], *needles: str, **kwargs) -> str:
    """Convert, expect `exc` with every needle in its message, and check the output folder stayed clean."""
    before = set(out.parent.iterdir())
    with pytest.raises(exc) as info:
        convert.convert_checkpoint(src, out, progress=False, **kwargs)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert not out.exists()
    assert set(out.parent.iterdir()) == before, "a temporary file was left behind"
    return message


def test_the_pristine_checkpoint_converts(ckpt, tmp_path):
    # the control: every failure below comes from the one defect each test introduces
    out = convert.convert_checkpoint(ckpt, tmp_path / "ok.gguf", progress=False)
    assert out.stat().st_size > 0 and not list(tmp_path.glob(".*partial*"))


def test_missing_folder(tmp_path):
    fails(tmp_path / "nowhere", tmp_path / "m.gguf", FileNotFoundError, "nowhere", "does not exist")


def test_folder_without_config(ckpt, tmp_path):
    (ckpt / "config.json").unlink()
    fails(ckpt, tmp_path / "m.gguf", FileNotFoundError, "config.json")


def test_folder_without_weights(ckpt, tmp_path):
    for f in ckpt.glob("*.safetensors"):
        f.unlink()
    fails(ckpt, tmp_path / "m.gguf", FileNotFoundError, "no *.safetensors weights")


def test_missing_shard(ckpt, tmp_path):
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}}))
    fails(ckpt, tmp_path / "m.gguf", FileNotFoundError, "missing weight shards", "model-00002-of-00002.safetensors")


def test_unsupported_architecture(ckpt, tmp_path):
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["architectures"] = ["GPT2LMHeadModel"]
    (ckpt / "config.json").write_text(json.dumps(cfg))
    fails(ckpt, tmp_path / "m.gguf", ValueError, "unsupported architecture: GPT2LMHeadModel",
          "LlamaForCausalLM", "Qwen3ForCausalLM")


def test_missing_tokenizer(ckpt, tmp_path):
    (ckpt / "tokenizer.json").unlink()
    fails(ckpt, tmp_path / "m.gguf", FileNotFoundError, "missing tokenizer file tokenizer.json")


def test_unsupported_pre_tokenizer(ckpt, tmp_path):
    tj = json.loads((ckpt / "tokenizer.json").read_text())
    tj["pre_tokenizer"] = {"type": "Whitespace"}
    (ckpt / "tokenizer.json").write_text(json.dumps(tj))
    fails(ckpt, tmp_path / "m.gguf", ValueError, "unsupported pre-tokenizer", "llama-bpe")


def test_byte_fallback_that_could_fire_is_refused(ckpt, tmp_path):
    """A vocabulary with a sentencepiece-style <0xNN> byte token in place of a byte-level symbol falls back for real."""
    tj = json.loads((ckpt / "tokenizer.json").read_text())
    vocab = tj["model"]["vocab"]
    missing = next(t for t in ("Ġ", "Ċ", "!") if t in vocab)
    vocab[f"<0x{ord(missing) % 256:02X}>"] = vocab.pop(missing)
    tj["model"]["byte_fallback"] = True
    (ckpt / "tokenizer.json").write_text(json.dumps(tj))
    fails(ckpt, tmp_path / "m.gguf", ValueError, "with byte fallback is not supported", "byte-level BPE")


def test_shape_mismatch(ckpt, tmp_path):
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["intermediate_size"] += 8
    (ckpt / "config.json").write_text(json.dumps(cfg))
    fails(ckpt, tmp_path / "m.gguf", ValueError, "shape mismatch", "mlp.gate_proj.weight")


def _rewrite_header(path: Path, edit) -> None:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    edit(header)
    new = json.dumps(header, separators=(",", ":")).encode()
    new += b" " * (n - len(new))
    assert len(new) == n
    path.write_bytes(raw[:8] + new + raw[8 + n:])


def test_dtype_mismatch(ckpt, tmp_path):
    def to_int(header):  # same byte count, an integer dtype the reader knows but a weight cannot be
        info = header["model.norm.weight"]
        info["dtype"], info["shape"] = "I32", [info["shape"][0] // 2]
    _rewrite_header(ckpt / "model.safetensors", to_int)
    fails(ckpt, tmp_path / "m.gguf", ValueError, "model.norm.weight", "I32")


def test_unknown_safetensors_dtype(ckpt, tmp_path):
    _rewrite_header(ckpt / "model.safetensors", lambda h: h["model.norm.weight"].update(dtype="F8_E4M3"))
    fails(ckpt, tmp_path / "m.gguf", ValueError, "F8_E4M3", "cannot read")


def test_truncated_safetensors(ckpt, tmp_path):
    path = ckpt / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    fails(ckpt, tmp_path / "m.gguf", ValueError, "truncated", "download it again")


def test_corrupt_safetensors_header(ckpt, tmp_path):
    path = ckpt / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:20] = b"\xff" * 12
    path.write_bytes(bytes(data))
    fails(ckpt, tmp_path / "m.gguf", ValueError, "corrupt header")


def test_missing_mask_token(tmp_path):
    plain = make_checkpoint(tmp_path / "plain", "smollm", mtp_tokens=False)
    fails(plain, tmp_path / "m.gguf", ValueError, "<|mtp_special_token_0|>", "--mask-token")
    fails(plain, tmp_path / "m.gguf", ValueError, "'<nope>'", mask_token="<nope>")


def test_existing_output_is_kept_without_force(ckpt, tmp_path):
    out = tmp_path / "m.gguf"
    out.write_bytes(b"precious")
    with pytest.raises(ValueError, match="already exists; pass --force"):
        convert.convert_checkpoint(ckpt, out, progress=False)
    assert out.read_bytes() == b"precious"
    convert.convert_checkpoint(ckpt, out, progress=False, force=True)
    assert out.read_bytes()[:4] == b"GGUF"


def test_bad_settings(ckpt, tmp_path):
    fails(ckpt, tmp_path / "m.gguf", ValueError, "unknown output type 'q3'", outtype="q3")
    fails(ckpt, tmp_path / "m.gguf", ValueError, "tau 1.5", tau=1.5)
    fails(ckpt, tmp_path / "m.gguf", ValueError, "k_max 0", k_max=0)
    with pytest.raises(FileNotFoundError, match="output folder"):
        convert.convert_checkpoint(ckpt, tmp_path / "no" / "m.gguf", progress=False)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_interrupted_write_leaves_nothing(ckpt, tmp_path, monkeypatch, exc):
    writer = convert_module("writer")
    real = writer._encode_chunk
    calls = []

    def flaky(plan, rows):
        calls.append(1)
        if len(calls) == 9:  # halfway through the tensors, on a worker thread
            raise exc("stop")
        return real(plan, rows)

    monkeypatch.setattr(writer, "_encode_chunk", flaky)
    fails(ckpt, tmp_path / "m.gguf", exc, "stop")


def test_cli_reports_errors_as_exceptions_the_dispatcher_prints(tmp_path):
    cli = convert_module("cli")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([str(tmp_path / "nowhere"), "--outfile", str(tmp_path / "m.gguf"), "-q"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cli.run(args)
    with pytest.raises(SystemExit):  # argparse rejects an unknown --outtype before any work
        parser.parse_args(["x", "--outfile", "y", "--outtype", "q3"])


def test_cli_through_the_dispatcher(ckpt, tmp_path, capsys):
    try:
        from mtp_edge.cli import main
        import mtp_edge.convert  # noqa: F401
    except ImportError:
        pytest.skip("mtp_edge is not installed (the dispatcher imports mtp_edge.convert)")
    assert main(["convert", str(tmp_path / "nowhere"), "--outfile", str(tmp_path / "m.gguf")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mtp-edge: error:") and "does not exist" in err[0]
    assert main(["convert", str(ckpt), "--outfile", str(tmp_path / "m.gguf"), "-q", "--outtype", "q8_0"]) == 0
    assert (tmp_path / "m.gguf").is_file()


def test_adapter_errors(ckpt, tmp_path):
    fails(ckpt, tmp_path / "m.gguf", FileNotFoundError, "adapter folder", adapter=tmp_path / "no_adapter")
    empty = tmp_path / "empty_adapter"
    empty.mkdir()
    fails(ckpt, tmp_path / "m.gguf", FileNotFoundError, "holds no adapter", adapter=empty)
    rows = tmp_path / "rows_adapter"
    rows.mkdir()
    convert_module("checkpoint").write_safetensors(rows / "mtp_tokens.safetensors", {
        "embed_rows": np.zeros((1, 64), np.float32), "token_ids": np.array([10_000], np.int64)})
    (rows / "mtp_tokens.json").write_text(json.dumps({"tokens": ["<|new|>"], "ids": [10_000]}))
    fails(ckpt, tmp_path / "m.gguf", ValueError, "leave a gap", adapter=rows)


def test_gguf_base_missing_or_corrupt(tmp_path):
    fails(tmp_path / "base.gguf", tmp_path / "m.gguf", FileNotFoundError, "GGUF base", "does not exist")
    (tmp_path / "bad.gguf").write_bytes(b"NOPE" + b"\0" * 64)
    fails(tmp_path / "bad.gguf", tmp_path / "m.gguf", ValueError, "not a GGUF file")
    (tmp_path / "cut.gguf").write_bytes(b"GGUF" + b"\3\0\0\0" + b"\1\0\0\0\0\0\0\0" + b"\5\0\0\0\0\0\0\0" + b"\7")
    fails(tmp_path / "cut.gguf", tmp_path / "m.gguf", ValueError, "truncated")
