"""A real ``apq supernet`` killed with SIGKILL mid-training resumes to the very same supernet."""
import signal

import pytest
import torch

from tests.helpers.cli import sigkill_when, start_apq
from tests.helpers.cli import apq

SUPERNET = ("supernet", "--preset", "smoke")

#: Checkpoint writes of the smoke preset (3 steps per phase, one every 2 steps and one per phase
#: end) before the kill: the third is phase 'kernel' step 2, after the teacher logits were cached.
KILL_AT_WRITE = 3


def _inodes_seen(checkpoint):
    """A ``ready()`` for :func:`sigkill_when`: true once ``checkpoint`` was (atomically, a new inode each
    time) written :data:`KILL_AT_WRITE` times."""
    seen = set()

    def ready():
        try:
            seen.add(checkpoint.stat().st_ino)
        except FileNotFoundError:
            pass
        return len(seen) >= KILL_AT_WRITE
    return ready


def _state(root):
    return torch.load(root / "data" / "fmnist" / "supernet.pt", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_sigkilled_training_resumes_to_the_uninterrupted_weights(tmp_path, smoke_root):
    folder = tmp_path / "data" / "fmnist"
    killed = sigkill_when(start_apq(tmp_path, SUPERNET), _inodes_seen(folder / "supernet.ckpt.pt"))
    assert killed == -signal.SIGKILL, "the run ended before it could be killed mid-training"
    assert not (folder / "supernet.pt").exists() and not (folder / "supernet.json").exists()
    at = torch.load(folder / "supernet.ckpt.pt", weights_only=True)
    assert at["phase"] >= 1 and at["teacher_logits"] is not None

    again = apq(*SUPERNET, root=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"at phase {at['phase'] + 1} step {at['step']}" in again.stderr  # it resumed, not restarted
    assert not (folder / "supernet.ckpt.pt").exists() and (folder / "supernet.json").exists()
    resumed, uninterrupted = _state(tmp_path), _state(smoke_root)
    assert resumed.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        assert torch.equal(resumed[key], value), key
