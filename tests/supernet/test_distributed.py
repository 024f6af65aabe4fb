"""``apq supernet`` under torchrun: 2 CPU processes (gloo) on the smoke preset.

One run covers the contract: it resumes a single-process checkpoint, every rank trains on its
own half of each batch yet ends with the same weights (gradients are averaged every step), and
rank 0 writes the files a single process writes (a single process then finds them up to date).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from apq.errors import UserError
from apq.presets import get_preset
from apq.supernet.build import train_supernet
from apq.supernet.config import SUPERNET_PRESETS
from apq.supernet.distributed import World, share
from apq.supernet.network import Supernet
from apq.supernet.train import Interrupted
from tests.helpers.cli import PROJECT
from tests.helpers.cli import apq

WORKER = Path(__file__).with_name("ddp_worker.py")


def _torchrun(root: Path, ranks: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APQ_ROOT": str(root), "PYTHONPATH": str(PROJECT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks),
           str(WORKER), str(root), *args]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=400)


@pytest.fixture(scope="module")
def ddp_root(tmp_path_factory, fmnist):
    """Root of a 2-rank smoke run resumed from a single-process checkpoint at phase 'full' step 2."""
    root = tmp_path_factory.mktemp("ddp")
    with pytest.MonkeyPatch.context() as patch, pytest.raises(Interrupted):
        patch.setenv("APQ_ROOT", str(root))
        train_supernet(fmnist, get_preset("smoke"), SUPERNET_PRESETS["smoke"], stop_after=2)
    result = _torchrun(root, 2, "supernet", "--preset", "smoke")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "resuming" in result.stderr and "2 processes" in result.stderr
    return root


def _ranks(root):
    return [torch.load(root / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


@pytest.mark.slow
def test_ranks_train_on_their_own_half_of_every_batch(ddp_root):
    shares = [dump["shares"] for dump in _ranks(ddp_root)]
    assert len(shares[0]) == len(shares[1]) == 4 * 3 - 2  # smoke: 3 steps per phase, 2 done before
    for (batch, lo0, hi0, w0), (batch1, lo1, hi1, w1) in zip(*shares):
        assert batch == batch1 == 32 and (lo0, hi0, lo1, hi1) == (0, 16, 16, 32) and w0 == w1 == 1.0


@pytest.mark.slow
def test_ranks_end_with_identical_weights_and_teacher_logits(ddp_root):
    first, second = _ranks(ddp_root)
    for key, value in first["state"].items():
        assert torch.equal(second["state"][key], value), key
    assert first["teacher_logits"].shape == (256, 10)
    assert torch.equal(first["teacher_logits"], second["teacher_logits"])


@pytest.mark.slow
def test_rank0_writes_the_single_process_format(ddp_root, smoke_root, fmnist):
    folder = ddp_root / "data" / "fmnist"
    assert sorted(p.name for p in folder.iterdir()) == ["supernet.json", "supernet.pt", "supernet.stamp.json"]
    ddp, single = (torch.load(r / "data" / "fmnist" / "supernet.pt", weights_only=True) for r in (ddp_root, smoke_root))
    assert ddp.keys() == single.keys() and ddp["meta"] == single["meta"]
    layout = {name: (t.shape, t.dtype) for name, t in single["state_dict"].items()}
    assert {name: (t.shape, t.dtype) for name, t in ddp["state_dict"].items()} == layout
    trained = _ranks(ddp_root)[0]["state"]
    for name, _ in Supernet(fmnist).named_parameters():  # BN statistics are re-calibrated at the end
        assert torch.equal(ddp["state_dict"][name], trained[name]), name
    reports = [json.loads((r / "data" / "fmnist" / "supernet.json").read_text()) for r in (ddp_root, smoke_root)]
    assert reports[0].keys() == reports[1].keys() and (reports[0]["processes"], reports[1]["processes"]) == (2, 1)
    again = apq("supernet", "--preset", "smoke", root=ddp_root)
    assert again.returncode == 0 and "up to date" in again.stderr, again.stderr


@pytest.mark.parametrize("n,size", [(32, 2), (33, 2), (1, 2), (10, 3)])
def test_shares_cover_a_batch_once(n, size):
    bounds = [share(n, World(r, size)) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(hi == lo for (_, hi), (lo, _) in zip(bounds, bounds[1:]))
    assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1


def test_world_from_env():
    assert World.from_env({}) == World()
    world = World.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (world.rank, world.size, world.local_rank, world.local_size, world.launched) == (3, 4, 1, 2, True)
    with pytest.raises(UserError):
        World.from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(UserError):
        World.from_env({"RANK": "x", "WORLD_SIZE": "4"})
