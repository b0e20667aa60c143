"""`mtp-edge inspect`: a GGUF model's MTP metadata."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="path of a .gguf model")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from mtp_edge.metadata import read_metadata

    meta = read_metadata(args.model)
    if args.json:
        print(meta.to_json())
        return 0
    rows = meta.to_dict()
    if meta.mask_token_id is None:
        rows["mask_token_id"] = "none (runs with k_max = 1 only)"
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"{key:<{width}}  {value}")
    return 0
