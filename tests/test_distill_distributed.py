"""Several processes (torchrun-style, gloo on CPU): the same run as one process, the same weights on every rank."""

from __future__ import annotations

import json
import os
import socket

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from mtp_edge.distill.data import save_jsonl  # noqa: E402
from mtp_edge.distill.tiny import make_tiny_checkpoint, tiny_records  # noqa: E402
from mtp_edge.distill.train import TrainConfig, train  # noqa: E402


def _config(tmp_path, out: str) -> dict:
    return dict(base=str(tmp_path / "base"), data=str(tmp_path / "data.jsonl"), out=str(tmp_path / out), k_max=4,
                steps=5, seq_len=40, regions=3, lr=3e-3, warmup=1, batch=4, save_every=5, log_every=1, lora_rank=4,
                device="cpu")


def _rank_main(rank: int, world: int, port: int, cfg: dict, result_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    try:
        summary = train(TrainConfig(**cfg), log=lambda m: None, progress=False)
        weights = {n: p.detach().clone() for n, p in summary["env"]["student"].named_parameters() if p.requires_grad}
        torch.save(weights, os.path.join(result_dir, f"weights_{rank}.pt"))
        with open(os.path.join(result_dir, f"losses_{rank}.json"), "w") as f:
            json.dump([h["loss"] for h in summary["history"]], f)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path, torch_one_thread):
    make_tiny_checkpoint(tmp_path / "base", seed=4)
    save_jsonl(tmp_path / "data.jsonl", tiny_records(24, seed=1))
    single = train(TrainConfig(**_config(tmp_path, "single")), log=lambda m: None, progress=False)
    single_losses = [h["loss"] for h in single["history"]]
    single_weights = {n: p.detach() for n, p in single["env"]["student"].named_parameters() if p.requires_grad}

    results = tmp_path / "ranks"
    results.mkdir()
    torch.multiprocessing.spawn(_rank_main, args=(2, _free_port(), _config(tmp_path, "two"), str(results)),
                                nprocs=2, join=True)
    losses = [json.loads((results / f"losses_{r}.json").read_text()) for r in (0, 1)]
    weights = [torch.load(results / f"weights_{r}.pt") for r in (0, 1)]
    assert losses[0] == losses[1]  # every rank logs the mean over ranks
    assert losses[0] == pytest.approx(single_losses, rel=1e-4, abs=1e-5)  # half a batch each = the whole batch
    for name, tensor in single_weights.items():
        torch.testing.assert_close(weights[0][name], weights[1][name], atol=0, rtol=0)  # ranks stay identical
        torch.testing.assert_close(weights[0][name], tensor, atol=2e-5, rtol=1e-4)
    assert (tmp_path / "two" / "model" / "adapter_model.safetensors").is_file()  # written by rank 0


def test_batch_must_split_evenly_across_processes():
    from mtp_edge.distill.distributed import DistEnv, check_batch

    check_batch(8, DistEnv(0, 4, 0))
    with pytest.raises(ValueError, match="multiple of the 3 processes"):
        check_batch(8, DistEnv(0, 3, 0))
