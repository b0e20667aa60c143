"""Final-answer extraction for GSM8K-style grading, shared by `mtp-edge bench` and the distill evaluator.

No torch here: the runtime's benchmarks import it on machines (and CUDA builds) where torch must stay out.
"""

from __future__ import annotations

import re

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_number(text: str) -> str | None:
    """The final number in a text (GSM8K convention: the answer comes last, after "####" when present),
    commas removed and written canonically ("1,200.00" -> "1200", "3.50" -> "3.5")."""
    if "####" in text:
        text = text.split("####")[-1]
    found = NUMBER.findall(text)
    if not found:
        return None
    value = found[-1].replace(",", "").rstrip(".")
    try:
        f = float(value)
    except ValueError:
        return None
    return str(int(f)) if f == int(f) else str(f)


def is_correct(text: str, answer: str) -> bool:
    """Whether the final number of `text` equals the final number of the reference `answer`."""
    got, want = extract_number(text), extract_number(answer)
    return got is not None and got == want
