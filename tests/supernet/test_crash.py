"""A real ``apq supernet`` killed with SIGKILL mid-training resumes to the very same supernet."""
import os
import signal
import subprocess
import sys
import time

import torch

from tests.conftest import PROJECT

#: Checkpoint writes of the smoke preset (3 steps per phase, one every 2 steps and one per phase
#: end) before the kill: the third is phase 'kernel' step 2, after the teacher logits were cached.
KILL_AT_WRITE = 3


def _start(root):
    env = {**os.environ, "APQ_ROOT": str(root), "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen([sys.executable, "-m", "apq", "supernet", "--preset", "smoke"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_after_checkpoint_writes(process, checkpoint, writes, timeout=240.0):
    """SIGKILL ``process`` once ``checkpoint`` was (atomically, new inode each time) written ``writes`` times."""
    seen, deadline = set(), time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            seen.add(checkpoint.stat().st_ino)
        except FileNotFoundError:
            pass
        if len(seen) >= writes:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    else:
        process.kill()
    return process.wait()


def _state(root):
    return torch.load(root / "data" / "fmnist" / "supernet.pt", weights_only=True)["state_dict"]


def test_sigkilled_training_resumes_to_the_uninterrupted_weights(tmp_path, smoke_root):
    folder = tmp_path / "data" / "fmnist"
    killed = _kill_after_checkpoint_writes(_start(tmp_path), folder / "supernet.ckpt.pt", KILL_AT_WRITE)
    assert killed == -signal.SIGKILL, "the run ended before it could be killed mid-training"
    assert not (folder / "supernet.pt").exists() and not (folder / "supernet.json").exists()
    at = torch.load(folder / "supernet.ckpt.pt", weights_only=True)
    assert at["phase"] >= 1 and at["teacher_logits"] is not None

    env = {**os.environ, "APQ_ROOT": str(tmp_path), "PYTHONPATH": str(PROJECT)}
    again = subprocess.run([sys.executable, "-m", "apq", "supernet", "--preset", "smoke"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"at phase {at['phase'] + 1} step {at['step']}" in again.stderr  # it resumed, not restarted
    assert not (folder / "supernet.ckpt.pt").exists() and (folder / "supernet.json").exists()
    resumed, uninterrupted = _state(tmp_path), _state(smoke_root)
    assert resumed.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        assert torch.equal(resumed[key], value), key
