"""Several processes (GPUs) for one distillation run: `torchrun --nproc_per_node N -m mtp_edge distill ...`.

Data parallel without a wrapper: every rank builds the same packed batch of a step (batches are a pure function of
(seed, step)) and trains on its slice; after backward the gradients are averaged across ranks, so every rank takes
the same optimiser step and the weights stay identical. DDP's module wrapper is not used because the objective
calls the decoder body and the output head separately, and the LoRA teacher is the student with its adapters
switched off; an explicit all-reduce works with both. Rank 0 alone generates data, logs, saves and evaluates.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the run (a single process is rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_from_env(device: torch.device) -> tuple[DistEnv, torch.device]:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK); one GPU per process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv(), device
    import torch.distributed as dist

    env = DistEnv(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return env, device


def check_batch(batch: int, env: DistEnv) -> None:
    if batch % env.world:
        raise ValueError(f"--batch {batch} must be a multiple of the {env.world} processes (each takes an equal "
                         "slice, so that averaging their gradients gives the whole batch's gradient)")


def shard(items: list, env: DistEnv) -> list:
    """This rank's equal slice of a step's sequences (contiguous, so ranks see disjoint ones)."""
    per = len(items) // env.world
    return items[env.rank * per:(env.rank + 1) * per]


def average_gradients(params: list[torch.nn.Parameter], env: DistEnv) -> None:
    """Mean of every rank's gradients, in one flat all-reduce."""
    if not env.active:
        return
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= env.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_across(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """The mean over ranks of a small tensor (loss, per-row match) for logging."""
    if not env.active:
        return values
    import torch.distributed as dist

    values = values.detach().clone()
    dist.all_reduce(values)
    return values / env.world


def agree(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """Rank 0's decision (e.g. the time limit is up), the same on every rank."""
    if not env.active:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def broadcast_parameters(params: list[torch.nn.Parameter], env: DistEnv) -> None:
    """Start every rank from rank 0's weights (random initialisations may differ between processes)."""
    if not env.active:
        return
    import torch.distributed as dist

    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, 0)


@contextmanager
def main_rank_first(env: DistEnv):
    """Rank 0 runs the block first (e.g. writes a data cache); the others run it after, finding its output."""
    import torch.distributed as dist

    if env.active and not env.main:
        dist.barrier()
    try:
        yield
    finally:
        if env.active and env.main:
            dist.barrier()
