"""Run ``apq`` as a user would: a subprocess with its own ``APQ_ROOT`` and this checkout on the path."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def apq(*args, root: Path, timeout: float = 600):
    """``python -m apq ARGS`` with APQ_ROOT=root, as a user would run it; returns the completed process."""
    env = {**os.environ, "APQ_ROOT": str(root), "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, "-m", "apq", *args], capture_output=True, text=True, env=env, cwd=root,
                          timeout=timeout)


def assert_user_error(result, *words):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("apq: error:"), result.stderr
    for word in words:
        assert word in lines[0]


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
