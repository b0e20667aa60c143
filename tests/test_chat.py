"""`mtp-edge chat` driven through a pseudo-terminal (pexpect), and ChatSession's context trimming."""

from __future__ import annotations

import re
import signal
import sys

import pexpect
import pytest

from product_util import THREADS, cli_env, mtp_edge_cmd, mtp_smollm2

QUESTION = "Name one color."


@pytest.fixture(scope="module")
def mtp_path(tmp_path_factory):
    return mtp_smollm2(tmp_path_factory.getbasetemp())


def spawn_chat(path, *extra: str) -> pexpect.spawn:
    cmd = mtp_edge_cmd("chat", "-m", str(path), "--threads", THREADS, "--ctx", "1024", "--k-max", "3", *extra)
    # A user's terminal delivers Ctrl-C with SIGINT at its default; a test runner started in the background has it
    # ignored, the child would inherit that and Python would install no KeyboardInterrupt handler.
    child = pexpect.spawn(cmd[0], cmd[1:], env=cli_env(), encoding="utf-8", timeout=150, dimensions=(50, 200),
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    child.logfile_read = sys.stdout  # shown by pytest on failure
    child.expect("Ctrl-C stops an answer")
    child.expect_exact(">>> ")
    return child


def ask(child: pexpect.spawn, text: str) -> str:
    """Send a message; return everything up to and including the speed summary."""
    child.sendline(text)
    child.expect(r"\[(\d+) tokens, ([\d.]+) tokens/pass, ([\d.]+) tokens/s, agreement (\S+)\]")
    summary = child.match
    child.expect_exact(">>> ")
    return summary


def stats(child: pexpect.spawn) -> str:
    child.sendline("/stats")
    child.expect_exact(">>> ")
    return child.before


def test_two_turns_stats_reset_and_ctrl_c(mtp_path):
    child = spawn_chat(mtp_path, "-n", "6")
    try:
        first = ask(child, QUESTION)
        assert 0 < int(first.group(1)) <= 6 and float(first.group(2)) > 0
        ctx1 = int(re.search(r"context (\d+)/1024", stats(child)).group(1))
        ask(child, QUESTION)
        after_two = stats(child)
        assert "2 answers" in after_two
        # The same question again: the prompt grew by the first turn, so the history went in.
        assert int(re.search(r"context (\d+)/1024", after_two).group(1)) > ctx1

        child.sendline("/reset")
        child.expect_exact("[conversation cleared]")
        child.expect_exact(">>> ")
        assert "no answers yet" in stats(child)

        child.sendline("/k 0")
        child.expect("error: /k 0")
        child.expect_exact(">>> ")
        child.sendline("/tau 0.5")
        child.expect_exact("tau = 0.5")
        child.expect_exact(">>> ")

        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_ctrl_c_stops_an_answer_not_the_chat(mtp_path):
    child = spawn_chat(mtp_path, "-n", "400")
    try:
        for _ in range(2):  # the second answer shows the model works after an interruption
            child.sendline("Write a very long story about a dragon who learns to bake bread.")
            child.expect_exact("bread.\r\n")  # the echo of the input
            child.expect(r"\w+")  # the answer is streaming
            child.sendintr()
            child.expect_exact("[stopped]")
            child.expect(r"\[(\d+) tokens,")
            assert 0 < int(child.match.group(1)) < 400
            child.expect_exact(">>> ")
        assert "2 answers" in stats(child)

        child.sendintr()  # at the prompt: a hint, not an exit
        child.expect_exact("(/quit or Ctrl-D leaves the chat)")
        child.expect_exact(">>> ")
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_oldest_turns_are_dropped_to_fit_the_context(mtp_path):
    from mtp_edge import MTPModel
    from mtp_edge.chat import ChatSession

    with MTPModel(mtp_path, n_ctx=256, n_threads=int(THREADS)) as model:
        session = ChatSession(model, max_tokens=8, options={"k_max": 1})
        for i in range(12):  # a long conversation, far more than 256 tokens
            session.history += [{"role": "user", "content": f"Question {i}: what is {i} plus {i}?"},
                                {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."}]
        drops: list[int] = []
        answer = "".join(session.reply("And what is 3 plus 4?", on_drop=drops.append))
        assert drops and drops[0] < 12  # some, not all, old turns went
        assert session.history[0]["content"] == f"Question {drops[0]}: what is {drops[0]} plus {drops[0]}?"
        assert session.history[-2:] == [{"role": "user", "content": "And what is 3 plus 4?"},
                                        {"role": "assistant", "content": answer}]
        assert session.context_used <= model.n_ctx
        with pytest.raises(ValueError, match="shorten it"):
            "".join(session.reply("word " * 300))
