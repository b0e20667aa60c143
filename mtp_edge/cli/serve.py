"""`mtp-edge serve`: an OpenAI-compatible HTTP server for one model."""

from __future__ import annotations

import argparse
import logging

from mtp_edge.cli.generate import add_model_arguments


def k_max_arg(value: str) -> int | str:
    """argparse type for --k-max: an integer >= 1 or 'auto'."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be an integer >= 1 or 'auto'")
    return k


def measure_auto_costs(model) -> None:
    """Load or measure the pass-cost curve `--k-max auto` needs now, so no request or answer waits for it."""
    if model.default_k_max == "auto":
        from mtp_edge.calibrate import pass_cost_for

        pass_cost_for(model)  # cached per model file and machine: measured once, a few seconds


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--name", default=None, help="model id reported by /v1/models (default: the GGUF's name)")
    p.add_argument("--max-queue", type=int, default=8,
                   help="requests that may wait while one runs; more are answered 503 (default 8)")
    p.add_argument("--k-max", type=k_max_arg, default=None,
                   help="default tokens per pass, or 'auto' (default: auto when the model has a mask token)")
    p.add_argument("--tau", type=float, default=None, help="default ConfAdapt threshold (default: the model's)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port} must be in 1..65535")
    if args.max_queue < 0:
        raise ValueError(f"--max-queue {args.max_queue} must be >= 0")
    from mtp_edge.model import MTPModel
    from mtp_edge.server import serve

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    model = MTPModel(args.model, n_ctx=args.ctx, n_threads=args.threads, n_threads_batch=args.threads,
                     n_gpu_layers=args.n_gpu_layers, flash_attn=args.flash_attn, device_rows=args.device_rows,
                     k_max=args.k_max, tau=args.tau)
    if not model.is_mtp:
        logging.getLogger("mtp_edge.server").warning(
            "%s has no mask token: every request runs plain decoding (mtp_k_max > 1 is answered 400)", args.model)
    measure_auto_costs(model)
    serve(model, host=args.host, port=args.port, model_name=args.name, max_queue=args.max_queue,
          log_level=args.log_level)
    return 0
