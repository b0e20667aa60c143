"""Where a checkpoint comes from: a local folder, or a Hugging Face hub repo id fetched on demand."""

from __future__ import annotations

import os
import re
from pathlib import Path

# only what conversion reads: no PyTorch .bin duplicates, no README images, no optimizer states
HUB_PATTERNS = ["config.json", "generation_config.json", "*.safetensors", "model.safetensors.index.json",
                "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                "chat_template.json", "mtp_config.json"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def resolve_source(src: str | os.PathLike[str], offline: bool = False) -> tuple[Path, str | None]:
    """(local folder, hub repo id or None) for a folder path or a repo id."""
    path = Path(src).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json; point SRC at a Hugging Face checkpoint folder")
        return path, None
    text = str(src)
    if path.exists():
        raise ValueError(f"{path} is a file; SRC must be a checkpoint folder, a hub repo id or a .gguf file")
    if not _REPO_ID.match(text) or text.startswith((".", "/", "~")):
        raise FileNotFoundError(f"checkpoint folder {path} does not exist (and it is not a hub repo id like owner/name)")
    return download(text, offline), text


def download(repo_id: str, offline: bool = False) -> Path:
    """Fetch the files conversion needs from the hub (or find them in the cache when offline)."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise RuntimeError(f"fetching {repo_id} needs huggingface-hub ({exc})") from exc
    offline = offline or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        folder = snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, local_files_only=offline)
    except RepositoryNotFoundError as exc:
        raise FileNotFoundError(f"no folder {repo_id} here and no hub repo {repo_id} (or it is private: "
                                "log in with `hf auth login`)") from exc
    except LocalEntryNotFoundError as exc:
        raise FileNotFoundError(f"{repo_id} is not in the local Hugging Face cache and downloads are off "
                                "(--offline or HF_HUB_OFFLINE); download it once online first") from exc
    except (HfHubHTTPError, OSError) as exc:
        raise RuntimeError(f"could not download {repo_id}: {exc}") from exc
    return Path(folder)
