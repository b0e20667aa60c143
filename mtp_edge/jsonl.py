"""JSON Lines input (prompt files, training data): one object per line, errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path


def read_jsonl(path: str | Path, required: tuple[str, ...], limit: int | None = None, hint: str = "") -> list[dict]:
    """The objects of a JSONL file, each with string fields `required` (the first non-empty); blank lines skipped.

    Stops after `limit` objects. `hint` is appended to the error for a line that lacks a field (e.g. the option
    that would supply it).
    """
    path = Path(path)
    rows: list[dict] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg}); each line must be one JSON "
                                 "object") from None
            if (not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in required)
                    or not row[required[0]].strip()):
                raise ValueError(f"{path}:{lineno}: each line must be an object with {', '.join(required)} "
                                 f"(strings, {required[0]} not empty){hint}")
            rows.append(row)
            if limit and len(rows) >= limit:
                break
    return rows
