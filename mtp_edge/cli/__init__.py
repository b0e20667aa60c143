"""The `mtp-edge` command line: one module per verb, imported only when that verb runs.

Each verb module defines `add_arguments(parser)` and `run(args) -> int`. Argument parsing lives here at
the edge; the verbs call the library's public functions.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> (module, one-line help). Modules load lazily so `mtp-edge generate` never imports torch.
VERBS: dict[str, tuple[str, str]] = {
    "generate": ("mtp_edge.cli.generate", "generate text with multi-token prediction"),
    "inspect": ("mtp_edge.cli.inspect", "print a GGUF model's MTP metadata"),
    "convert": ("mtp_edge.convert.cli", "convert a Hugging Face MTP checkpoint to GGUF"),
    "distill": ("mtp_edge.distill.cli", "turn a model into an MTP model by self-distillation (needs torch)"),
    "shrink-adapter": ("mtp_edge.cli.shrink", "truncate a LoRA adapter to a lower rank (SVD of each update)"),
    "calibrate": ("mtp_edge.cli.calibrate", "measure this machine's cost of a pass of n tokens"),
    "bench": ("mtp_edge.cli.bench", "benchmark MTP modes against plain and prompt-lookup decoding"),
    "chat": ("mtp_edge.cli.chat", "chat with a model in the terminal"),
    "serve": ("mtp_edge.cli.serve", "OpenAI-compatible HTTP server"),
    "demo": ("mtp_edge.cli.demo", "build the embedded SmolLM2 MTP model and compare it with plain decoding"),
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2, no traceback."""


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(prog="mtp-edge", description=__doc__.splitlines()[0])
    from mtp_edge import __version__

    parser.add_argument("--version", action="version", version=f"mtp-edge {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    modules: dict[str, object] = {}
    requested = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    for verb, (module_name, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text, description=help_text)
        if verb != requested:
            continue  # only the verb that runs imports its module (and its dependencies)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise CliError(
                f"`mtp-edge {verb}` needs the module {exc.name!r}, which is not installed. "
                f"{_install_hint(verb)}"
            ) from exc
        module.add_arguments(p)
        modules[verb] = module
    return parser, modules


def _install_hint(verb: str) -> str:
    extra = {"distill": "train", "serve": "server", "demo": "demo", "bench": "bench"}.get(verb)
    return f"Install it with: pip install 'mtp-edge[{extra}]'" if extra else "Reinstall mtp-edge."


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    try:
        parser, modules = build_parser()
        args = parser.parse_args()
        if args.verb is None:
            parser.print_help()
            return 2
        return int(modules[args.verb].run(args) or 0)
    except CliError as exc:
        print(f"mtp-edge: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        print(f"mtp-edge: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmtp-edge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
