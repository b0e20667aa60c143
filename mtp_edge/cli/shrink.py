"""`mtp-edge shrink-adapter`: truncate a LoRA adapter to a lower rank (so a high-rank run fits a size budget)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from mtp_edge.shrink import shrink_adapter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", help="LoRA adapter folder (what `mtp-edge distill --lora-rank` writes)")
    parser.add_argument("--rank", type=int, required=True, help="the new, lower rank")
    parser.add_argument("-o", "--out", required=True, help="output adapter folder (must not exist)")
    parser.add_argument("--json", action="store_true", help="print the report (retained share per module) as JSON")


def run(args: argparse.Namespace) -> int:
    report = shrink_adapter(args.adapter, args.out, args.rank)
    if args.json:
        print(json.dumps({**asdict(report), "min_retained": report.min_retained,
                          "mean_retained": report.mean_retained}, indent=1))
    else:
        print(f"wrote {args.out}: rank {report.rank_from} -> {report.rank_to}, "
              f"{report.bytes_from / 2**20:.1f} -> {report.bytes_to / 2**20:.1f} MiB; update norm^2 retained: "
              f"mean {report.mean_retained:.3f}, lowest {report.min_retained:.3f} over {len(report.retained)} modules")
    return 0
