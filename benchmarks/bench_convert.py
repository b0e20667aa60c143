"""Benchmark `mtp-edge convert` on a random-weight checkpoint of the full Llama-3.1-8B MTP shape.

Writes a bf16 safetensors checkpoint (4 shards, vocab padded to 128384) to --workdir, then measures
  * the floor: reading every checkpoint byte once and writing the same number of bytes once;
  * the conversion (in a fresh process): wall time and peak RSS.
Targets (issue 3): peak RSS under 2 GB plus the largest tensor; time within 1.5x of the floor.

    python benchmarks/bench_convert.py --workdir /tmp/bench [--layers 32] [--outtype f16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BUF = 64 << 20


def cpu_seconds(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def copy_floor(folder: Path, dst: Path) -> float:
    """Seconds to read every safetensors byte once and write as many bytes once (64 MiB buffers, fsync)."""
    start = time.perf_counter()
    with open(dst, "wb") as out:
        for f in sorted(folder.glob("*.safetensors")):
            with open(f, "rb") as src:
                while chunk := src.read(BUF):
                    out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    took = time.perf_counter() - start
    dst.unlink()
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/mtp-edge-bench-convert")
    ap.add_argument("--shape", default="llama-3.1-8b")
    ap.add_argument("--layers", type=int, default=None, help="fewer layers to fit a small disk (default: all)")
    ap.add_argument("--outtype", default="f16")
    ap.add_argument("--repeats", type=int, default=1,
                    help="alternate floor and conversion N times and keep the fastest of each (noisy machines)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoint and output")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        from mtp_edge.convert.synthetic import SHAPES, write_random_checkpoint
    except ImportError:
        from convert.synthetic import SHAPES, write_random_checkpoint  # type: ignore[no-redef]

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    ckpt, out = work / "ckpt", work / f"out-{args.outtype}.gguf"
    if not (ckpt / "config.json").is_file():
        t = time.perf_counter()
        write_random_checkpoint(ckpt, args.shape, n_layer=args.layers)
        print(f"wrote the random checkpoint in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    in_bytes = sum(f.stat().st_size for f in ckpt.glob("*.safetensors"))
    cfg = SHAPES[args.shape]
    largest = cfg["vocab_size"] * cfg["hidden_size"]  # embedding / lm_head elements

    code = ("import sys; from mtp_edge.convert import convert_checkpoint as c; "
            f"c({str(ckpt)!r}, {str(out)!r}, outtype={args.outtype!r}, progress=False)")
    floors, converts, unsynced, floor_cpu, convert_cpu = [], [], [], [], []
    for _ in range(args.repeats):
        c0 = cpu_seconds(resource.RUSAGE_SELF)
        floors.append(copy_floor(ckpt, work / "floor.bin"))
        floor_cpu.append(cpu_seconds(resource.RUSAGE_SELF) - c0)
        out.unlink(missing_ok=True)
        c0 = cpu_seconds(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code])
        convert_cpu.append(cpu_seconds(resource.RUSAGE_CHILDREN) - c0)
        unsynced.append(time.perf_counter() - t)
        if proc.returncode:
            return proc.returncode
        with open(out, "rb+") as f:  # count the time to get the bytes to disk, as the floor does
            os.fsync(f.fileno())
        converts.append(time.perf_counter() - t)
    floor, took_synced, took = min(floors), min(converts), min(unsynced)
    peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    result = {
        "shape": args.shape, "layers": args.layers or cfg["num_hidden_layers"], "outtype": args.outtype,
        "checkpoint_bytes": in_bytes, "output_bytes": out.stat().st_size,
        "floor_read_write_s": round(floor, 2), "convert_s": round(took_synced, 2),
        "convert_s_before_fsync": round(took, 2), "ratio_to_floor": round(took_synced / floor, 2),
        "floor_runs_s": [round(x, 2) for x in floors], "convert_runs_s": [round(x, 2) for x in converts],
        "floor_cpu_s": [round(x, 1) for x in floor_cpu], "convert_cpu_s": [round(x, 1) for x in convert_cpu],
        "load_average": os.getloadavg()[0],
        "peak_rss_bytes": peak_rss, "largest_tensor_f32_bytes": largest * 4, "largest_tensor_bf16_bytes": largest * 2,
        "rss_target_bytes": 2 * 2**30 + largest * 2, "cpus": os.cpu_count(),
    }
    result["rss_ok"] = peak_rss < result["rss_target_bytes"]
    result["time_ok"] = result["ratio_to_floor"] <= 1.5
    gib = 2**30
    print(f"| checkpoint | output | read+write floor | convert | ratio | peak RSS | target RSS |")
    print(f"|---|---|---|---|---|---|---|")
    print(f"| {in_bytes / gib:.2f} GiB bf16 | {result['output_bytes'] / gib:.2f} GiB {args.outtype} | {floor:.1f} s "
          f"| {took_synced:.1f} s | {result['ratio_to_floor']:.2f}x | {peak_rss / gib:.2f} GiB "
          f"| {result['rss_target_bytes'] / gib:.2f} GiB |")
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if not args.keep:
        out.unlink(missing_ok=True)
        shutil.rmtree(ckpt, ignore_errors=True)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
