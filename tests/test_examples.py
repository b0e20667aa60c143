"""The examples run as a user would run them, on the small model with few tokens."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from product_util import REPO, THREADS, cli_env, mtp_smollm2

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def mtp_path(tmp_path_factory):
    return mtp_smollm2(tmp_path_factory.getbasetemp())


def run(cmd: list[str], stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=cli_env(**env), timeout=300)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_laptop_chat_keeps_a_conversation(mtp_path):
    out = run([sys.executable, str(EXAMPLES / "laptop_chat.py"), "-m", str(mtp_path), "-n", "4",
               "--k-max", "3"],
              stdin="Hi!\nWhat did I just say?\n").stdout
    assert out.count("bot> ") == 2
    assert len(re.findall(r"\[[1-4] tokens, [\d.]+ per pass, \d+ tokens/s\]", out)) == 2


def test_embedded_app_streams_action_items(mtp_path, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Bob sends the report on Friday. Alice books the room for Monday.\n")
    out = run([sys.executable, str(EXAMPLES / "embedded_app.py"), str(notes), "-m", str(mtp_path), "-n", "6",
               "--threads", THREADS, "--k-max", "3"]).stdout
    assert out.startswith(f"== {notes}\n")
    assert re.search(r"\(([1-6]) tokens in (\d+) passes, \d+ tokens/s\)", out)


def test_convert_and_run_takes_a_checkpoint_folder_to_generated_text(tmp_path):
    pytest.importorskip("torch")
    from test_convert_helpers import make_checkpoint

    folder = make_checkpoint(tmp_path / "ckpt", "smollm")
    out = tmp_path / "tiny.gguf"
    done = run(["bash", str(EXAMPLES / "convert_and_run.sh"), str(folder), str(out), "Hello"],
               THREADS=THREADS, MAX_TOKENS="4", OUTTYPE="f16")
    assert out.is_file()
    assert re.search(r"mask_token_id\s+\d+", done.stdout)  # `mtp-edge inspect` saw the MTP keys
    speeds = re.findall(r"\[(\d+) tokens in (\d+) passes", done.stderr)
    assert len(speeds) == 2 and all(1 <= int(t) <= 4 for t, _ in speeds)  # plain, then MTP
