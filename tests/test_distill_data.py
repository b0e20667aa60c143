"""Data loading errors name the fix; examples keep prompt and answer apart; the CLI refuses to clobber a run."""

from __future__ import annotations

import argparse

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from mtp_edge.distill import cli  # noqa: E402
from mtp_edge.distill.data import encode_examples, load_jsonl, prompt_ids  # noqa: E402
from mtp_edge.distill.tiny import tiny_tokenizer  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data"):
        load_jsonl(tmp_path / "nope.jsonl")


def test_bad_json_names_the_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"question": "a", "answer": "b"}\n{oops\n')
    with pytest.raises(ValueError, match=r"d.jsonl:2: not valid JSON"):
        load_jsonl(p)


def test_missing_answer_points_to_self_generate(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"question": "a"}\n')
    with pytest.raises(ValueError, match="--self-generate"):
        load_jsonl(p)
    assert load_jsonl(p, require_answer=False) == [{"question": "a"}]


def test_examples_are_prompt_then_answer():
    tok = tiny_tokenizer()
    recs = [{"question": "w1 w2", "answer": "w3 w4 w5"}]
    ex = encode_examples(tok, recs, "chat", tok.eos_token_id, seq_len=64)[0]
    p = prompt_ids(tok, "w1 w2", "chat")
    assert ex.prompt_len == len(p) and ex.ids[:len(p)] == p
    assert ex.ids[len(p):] == tok("w3 w4 w5", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    with pytest.raises(ValueError, match="--seq-len"):
        encode_examples(tok, recs, "chat", tok.eos_token_id, seq_len=len(p))


def test_cli_refuses_to_overwrite_a_run(tmp_path):
    (tmp_path / "out" / "checkpoint").mkdir(parents=True)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--base", "x", "--data", "y", "--out", str(tmp_path / "out"), "--k-max", "4"])
    with pytest.raises(ValueError, match="--resume"):
        cli.run(args)


def test_user_turn_prefix_is_the_template_up_to_the_users_words():
    from mtp_edge.distill.data import user_turn_prefix
    from mtp_edge.distill.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    prefix = user_turn_prefix(tok)
    assert tok.decode(prefix) == "<|im_start|> user"
    full = tok.apply_chat_template([{"role": "user", "content": "w1 w2"}], tokenize=False)
    assert tok(full, add_special_tokens=False)["input_ids"][:len(prefix)] == prefix
