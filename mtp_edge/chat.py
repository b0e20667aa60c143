"""A terminal chat with an MTPModel: streamed answers, multi-turn history that fits the context, commands.

`ChatSession` holds the conversation and the decoding settings and streams replies; `run_chat` is the
read-answer loop around it (`mtp-edge chat`). Ctrl-C during an answer stops that answer only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .model import GenerationStats, MTPModel

HELP = """commands:
  /reset      forget the conversation
  /stats      speed and MTP statistics of this session
  /tau [T]    show or set the ConfAdapt threshold, 0 < T <= 1
  /k [N]      show or set tokens per pass at most (1 = plain decoding, 'auto' = what pays here)
  /help       this list
  /quit       leave (Ctrl-D too); Ctrl-C stops an answer"""


@dataclass
class Totals:
    """Sums over the session's answers, for /stats."""

    answers: int = 0
    tokens: int = 0
    passes: int = 0
    seconds: float = 0.0
    agreed: float = 0.0  # tokens agreeing with plain greedy (agreement x tokens)
    checked: int = 0  # tokens whose agreement is known

    def add(self, s: GenerationStats) -> None:
        self.answers += 1
        self.tokens += s.tokens
        self.passes += s.passes
        self.seconds += s.decode_s
        if s.agreement is not None:
            self.agreed += s.agreement * s.tokens
            self.checked += s.tokens


def summary(s: GenerationStats) -> str:
    """The one line shown after each answer."""
    agreement = "n/a" if s.agreement is None else f"{s.agreement:.0%}"
    return (f"[{s.tokens} tokens, {s.eff_k:.2f} tokens/pass, {s.decode_tps:.1f} tokens/s, "
            f"agreement {agreement}]")


class ChatSession:
    """A conversation with `model`; the oldest turns are dropped when the next prompt would not fit.

    Args:
        model: the loaded MTPModel.
        system: an optional system message, kept through /reset and trimming.
        max_tokens: tokens per answer at most; the prompt keeps room for min(max_tokens, n_ctx // 2) of them.
        options: decoding options for MTPModel.stream (k_max, tau, mode, temperature, ...).
    """

    def __init__(self, model: MTPModel, *, system: str | None = None, max_tokens: int = 512,
                 options: dict | None = None) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens = {max_tokens} must be >= 1")
        self.model = model
        self.system = [{"role": "system", "content": system}] if system else []
        self.max_tokens = max_tokens
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        self.history: list[dict[str, str]] = []
        self.totals = Totals()
        self.context_used = 0

    def reset(self) -> None:
        self.history = []
        self.totals = Totals()

    def _prompt(self, user_text: str) -> tuple[list[int], int]:
        """Tokens of the prompt for the next answer, and how many old turns were dropped to fit it."""
        reserve = min(self.max_tokens, self.model.n_ctx // 2)
        dropped = 0
        while True:
            messages = self.system + self.history + [{"role": "user", "content": user_text}]
            tokens = self.model.tokenize(self.model.format_chat(messages))
            if len(tokens) + reserve <= self.model.n_ctx or not self.history:
                break
            del self.history[:2]  # the oldest user message and its answer
            dropped += 1
        if len(tokens) >= self.model.n_ctx - 1:
            raise ValueError(f"this message needs {len(tokens)} tokens, more than the context of "
                             f"{self.model.n_ctx}; shorten it or restart with a larger --ctx")
        return tokens, dropped

    def reply(self, user_text: str, on_drop: Callable[[int], None] | None = None) -> Iterator[str]:
        """Stream the answer to `user_text`; the answer (also one stopped early) joins the history."""
        tokens, dropped = self._prompt(user_text)
        if dropped and on_drop:
            on_drop(dropped)
        self.context_used = len(tokens)
        answer: list[str] = []
        try:
            for piece in self.model.stream(tokens, self.max_tokens, **self.options):
                answer.append(piece)
                yield piece
        except (GeneratorExit, KeyboardInterrupt):
            self._record(user_text, "".join(answer))  # keep what the user saw: the conversation stays coherent
            raise
        self._record(user_text, "".join(answer))

    def _record(self, user_text: str, answer: str) -> None:
        self.history += [{"role": "user", "content": user_text}, {"role": "assistant", "content": answer}]
        stats = self.model.last_stats()
        self.context_used += stats.tokens
        self.totals.add(stats)

    def set_k_max(self, value: str) -> str:
        """Apply `/k VALUE`; returns the confirmation, raises ValueError with the reason."""
        if value.lower() == "auto":
            k: int | str = "auto"
        else:
            try:
                k = int(value)
            except ValueError:
                raise ValueError(f"/k {value}: give an integer >= 1 or 'auto'") from None
            if not 1 <= k < self.model.n_ctx:
                raise ValueError(f"/k {value}: give 1 to {self.model.n_ctx - 1}, or 'auto'")
        if k != 1 and not self.model.is_mtp:
            raise ValueError("this model has no mask token, so it runs only with /k 1 (plain decoding)")
        self.options["k_max"] = k
        return f"k_max = {k}"

    def set_tau(self, value: str) -> str:
        try:
            tau = float(value)
        except ValueError:
            tau = -1.0
        if not 0 < tau <= 1:
            raise ValueError(f"/tau {value}: give a number in (0, 1], e.g. /tau 0.9")
        self.options["tau"] = tau
        return f"tau = {tau:g}"

    def settings(self) -> str:
        k = self.options.get("k_max", self.model.default_k_max)
        tau = self.options.get("tau", self.model.tau_for(self.options.get("mode", "confadapt")))
        return f"k_max = {k}, tau = {tau:.2f}, mode = {self.options.get('mode', 'confadapt')}"

    def stats_text(self) -> str:
        t = self.totals
        if not t.answers:
            return f"no answers yet; {self.settings()}"
        agreement = f"{t.agreed / t.checked:.1%}" if t.checked else "n/a"
        tps = t.tokens / t.seconds if t.seconds > 0 else 0.0
        return (f"{t.answers} answers, {t.tokens} tokens in {t.passes} passes: "
                f"{t.tokens / max(t.passes, 1):.2f} tokens/pass, {tps:.1f} tokens/s, agreement {agreement}\n"
                f"{self.settings()}; context {self.context_used}/{self.model.n_ctx} tokens")


def _command(session: ChatSession, line: str, out: TextIO) -> bool:
    """Run a /command; False means quit."""
    name, _, arg = line[1:].partition(" ")
    arg = arg.strip()
    try:
        if name in ("quit", "exit", "q"):
            return False
        if name == "reset":
            session.reset()
            print("[conversation cleared]", file=out)
        elif name == "stats":
            print(session.stats_text(), file=out)
        elif name == "tau":
            print(session.set_tau(arg) if arg else session.settings(), file=out)
        elif name == "k":
            print(session.set_k_max(arg) if arg else session.settings(), file=out)
        elif name in ("help", "?"):
            print(HELP, file=out)
        else:
            print(f"unknown command /{name}; /help lists the commands", file=out)
    except ValueError as exc:
        print(f"error: {exc}", file=out)
    return True


def _answer(session: ChatSession, text: str, out: TextIO) -> None:
    notice = lambda n: print(f"[dropped the {n} oldest turn{'s' if n > 1 else ''} to fit the "  # noqa: E731
                             f"{session.model.n_ctx}-token context]", file=out)
    pieces = session.reply(text, on_drop=notice)
    answers = session.totals.answers
    try:
        for piece in pieces:
            out.write(piece)
            out.flush()
        print(file=out)
    except KeyboardInterrupt:
        pieces.close()
        print("\n[stopped]", file=out)
    except ValueError as exc:
        print(f"error: {exc}", file=out)
        return
    if session.totals.answers > answers:  # not when Ctrl-C came before the first pass
        print(summary(session.model.last_stats()), file=out, flush=True)


def run_chat(session: ChatSession, *, read: Callable[[str], str] = input, out: TextIO = sys.stdout) -> None:
    """The read-answer loop: lines starting with / are commands, anything else is a message."""
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    while True:
        try:
            line = read(">>> ").strip()
        except EOFError:
            print(file=out)
            return
        except KeyboardInterrupt:
            print("\n(/quit or Ctrl-D leaves the chat)", file=out)
            continue
        if not line:
            continue
        if line.startswith("/"):
            if not _command(session, line, out):
                return
            continue
        _answer(session, line, out)
