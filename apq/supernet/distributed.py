"""Data-parallel supernet training under ``torchrun``: who does what, and how ranks stay in step.

``apq supernet`` run by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ...)
trains with one process per rank: gloo on CPU, NCCL on GPU (one GPU per local rank).

- Same sub-net everywhere: the batch indices, the augmentation and the sub-net of a step are
  drawn from generators seeded by (seed, phase, step), so every rank activates the same sub-net
  without communicating. Each rank then runs its contiguous share of the step's batch
  (:func:`share`), and its loss is scaled so that the averaged gradient is that of the whole
  batch's mean loss. The recipe (batch size, schedule, one sub-net per step) stays the one of a
  single process; N ranks process N times the images per second. Splitting the sampled sub-nets
  among ranks instead would change the recipe (N sub-nets per step) and leave ranks with
  different unused parameters, so their gradients could not be bucketed together.
- Gradients are averaged by torch's ``DistributedDataParallel`` with
  ``find_unused_parameters=True``: an elastic step leaves parameters unused (blocks beyond the
  active depth, kernel transforms when the largest kernel runs), and DDP must not wait for their
  gradients. The unused set is the same on every rank, so those parameters keep no gradient and
  SGD skips them, exactly as in a single process. A hand-written all-reduce after ``backward``
  would do the same with less machinery, but DDP overlaps bucketed communication with the
  backward pass (what counts on multi-GPU nodes) for one graph traversal per step, which is
  small next to the convolutions. (DDP warns once that a step had no unused parameters: a step
  training the smallest kernels at full depth uses them all; the warning is a false positive.)
- Batch norm: statistics of a training batch are per rank (plain DDP; ``SyncBatchNorm`` cannot
  slice the dynamic layers' active channels). Running statistics are rank 0's: DDP broadcasts
  them before every training forward, and :func:`broadcast_buffers` does so before other uses.
- Files: only rank 0 reads and writes checkpoints and artifacts (:func:`run_on_main` broadcasts
  what it read, or its error), so nodes need the code and the dataset but no shared folder; a
  restarted multi-node job resumes when rank 0 lands on the same node again (``torchrun
  --node_rank 0`` there) or ``APQ_ROOT`` is shared. A rank-0 checkpoint is the same file a
  single process writes, and resumes with any number of processes.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from apq.errors import UserError
from apq.nn.runtime import pick_device

T = TypeVar("T")

#: Variables ``torchrun`` sets for every process it starts.
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes; ``World()`` is a plain single process."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    #: True when started by ``torchrun`` (a process group is used, even for one process).
    launched: bool = False

    def __post_init__(self) -> None:
        if not (0 <= self.rank < self.size and 0 <= self.local_rank < self.local_size <= self.size):
            raise UserError(f"inconsistent torchrun variables (rank {self.rank} of {self.size}, local rank "
                            f"{self.local_rank} of {self.local_size}); start distributed runs with torchrun")

    @classmethod
    def from_env(cls, env: dict | None = None) -> "World":
        """The world ``torchrun`` describes in the environment, or a single process without it."""
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return cls()
        try:
            values = [int(env.get(name, default)) for name, default in zip(TORCHRUN_VARS, (0, 1, 0, 1))]
        except ValueError:
            raise UserError(f"non-integer torchrun variables {[env.get(n) for n in TORCHRUN_VARS]}; "
                            "start distributed runs with torchrun") from None
        return cls(*values, launched=True)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self) -> torch.device:
        """CUDA device of this local rank when CUDA is available, else the CPU."""
        if pick_device().type == "cpu":
            return torch.device("cpu")
        if self.local_rank >= torch.cuda.device_count():
            raise UserError(f"local rank {self.local_rank} has no GPU ({torch.cuda.device_count()} on this node); "
                            f"run torchrun with --nproc_per_node {torch.cuda.device_count()}")
        return torch.device("cuda", self.local_rank)


SINGLE = World()


@contextmanager
def process_group(world: World):
    """Join the ``torchrun`` process group (NCCL on GPU, gloo on CPU) for the block; no-op alone."""
    if not world.launched or dist.is_initialized():
        yield
        return
    device = world.device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    except (ValueError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot join the torchrun process group ({reason}); start distributed runs with "
                        "torchrun, or unset WORLD_SIZE for a single process") from None
    try:
        yield
    finally:
        dist.destroy_process_group()


def share(n: int, world: World) -> tuple[int, int]:
    """This rank's contiguous share [lo, hi) of ``n`` items; shares differ in size by at most one."""
    return n * world.rank // world.size, n * (world.rank + 1) // world.size


def run_on_main(world: World, job: Callable[[], T]) -> T:
    """Run ``job`` on rank 0 only and return its result on every rank.

    A :class:`UserError` raised by the job is raised on every rank, so all of them stop with the
    same one-line message instead of waiting for a result that never comes. The result travels
    between our own processes (pickled by ``broadcast_object_list``); it is never read from a file.
    """
    if not world.launched:
        return job()
    box: list = [None]
    if world.is_main:
        try:
            box[0] = ("ok", job())
        except UserError as err:
            box[0] = ("error", str(err))
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]
    if status == "error":
        raise UserError(value)
    return value


def wrap(net: nn.Module, world: World) -> nn.Module:
    """``net`` inside ``DistributedDataParallel`` when launched by torchrun, else ``net`` itself."""
    if not world.launched:
        return net
    # DDP wants every gradient with its parameter's exact strides, and the gradients of weights
    # sliced to the active sub-net come back in the default layout. Every conv weight here has
    # one input channel or a 1x1 kernel, so channels-last and default strides differ only on
    # size-1 dimensions (same memory order): switching to the default ones changes no value.
    for param in net.parameters():
        param.data = param.data.clone(memory_format=torch.contiguous_format)
    device = next(net.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids, find_unused_parameters=True)


def broadcast_buffers(net: nn.Module, world: World) -> None:
    """Give every rank rank 0's buffers (BN running statistics), as DDP does before a forward."""
    if world.launched:
        for buffer in net.buffers():
            dist.broadcast(buffer, src=0)


def gather_rows(local: torch.Tensor, total: int, world: World) -> torch.Tensor:
    """Concatenate every rank's rows (its :func:`share` of ``total``) into (total, ...) on all ranks."""
    if not world.launched:
        return local
    bounds = [share(total, World(r, world.size)) for r in range(world.size)]
    width = max(hi - lo for lo, hi in bounds)
    padded = local.new_zeros((width, *local.shape[1:]))
    padded[:len(local)] = local
    parts = [torch.empty_like(padded) for _ in bounds]
    dist.all_gather(parts, padded)
    return torch.cat([part[:hi - lo] for part, (lo, hi) in zip(parts, bounds)])


def sum_over_ranks(values: torch.Tensor, world: World) -> torch.Tensor:
    """Element-wise sum of ``values`` over the ranks (``values`` itself for a single process)."""
    if world.launched:
        values = values.clone()
        dist.all_reduce(values)
    return values


def barrier(world: World) -> None:
    """Wait for every rank (no-op for a single process)."""
    if world.launched:
        dist.barrier()
