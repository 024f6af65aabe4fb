"""Shared fixtures: the reference data and the registered spaces."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apq.space.registry import create_space, space_names

PROJECT = Path(__file__).resolve().parents[1]
#: Conformance vectors from the APQ release (source and licence in its README).
REFERENCE = PROJECT / "tests" / "data" / "reference"


def reference_json(name: str):
    """A JSON file of :data:`REFERENCE`."""
    return json.loads((REFERENCE / name).read_text())


@pytest.fixture(params=space_names())
def space(request):
    return create_space(request.param)


@pytest.fixture
def apq_space():
    return create_space("imagenet-apq")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """In-process training and prediction here run on tiny batches: one intra-op thread is as fast,
    and it does not slow to a crawl when other processes share the two cores (OpenMP threads spin-wait)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def smoke_supernet(tmp_path_factory):
    """Path of a ``supernet.pt`` for the smoke preset: random weights (made in a second, never trained),
    real file format and metadata. Shared by the sample tests and tests/test_bad_inputs.py."""
    import torch

    from apq.presets import get_preset
    from apq.supernet import checkpoint as ckpt
    from apq.supernet.config import get_supernet_config
    from apq.supernet.network import Supernet
    from tests.supernet.conftest import randomize

    space = create_space("fmnist")
    torch.manual_seed(0)
    net = randomize(Supernet(space))
    meta = ckpt.make_meta(space, get_supernet_config("smoke"), get_preset("smoke"))
    path = tmp_path_factory.mktemp("supernet") / "supernet.pt"
    return ckpt.write(path, {"format": ckpt.FORMAT, "meta": meta, "state_dict": net.state_dict(),
                             "channels_sorted": True})


@pytest.fixture(autouse=True)
def _isolated_root(tmp_path, monkeypatch):
    """Artifacts written by a test land in its tmp folder, never in the checkout."""
    monkeypatch.setenv("APQ_ROOT", str(tmp_path))


def start_apq(root, args):
    """Start ``python -m apq ARGS`` in ``root`` (its APQ_ROOT) with this checkout on the path, silenced."""
    env = {**os.environ, "APQ_ROOT": str(root), "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen([sys.executable, "-m", "apq", *args], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sigkill_when(process, ready, timeout=240.0) -> int:
    """SIGKILL ``process`` as soon as ``ready()`` is true (polled every 5 ms); kill it anyway after
    ``timeout`` seconds. Returns its exit code (``-SIGKILL`` when killed part-way)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    else:
        process.kill()
    return process.wait()
