"""A real ``apq samples`` killed with SIGKILL part-way resumes to the file an uninterrupted run writes."""
import shutil
import signal

import h5py
import numpy as np
import pytest

from apq.samples.store import read_samples
from tests.helpers.cli import sigkill_when, start_apq
from tests.helpers.cli import apq

#: Samples per run: enough that the kill lands between the first and the last (fp32 samples take
#: ~0.2 s each here, quantized ones ~1 s), few enough to keep the three runs of a case short.
CASES = {"fp32": ([], 12), "quant": (["--quant"], 4)}
COMPARED = ("index", "genome", "encoding", "accuracy", "loss", "seed")


def _command(flags, n):
    return ["samples", "--preset", "smoke", "--jobs", "1", "--n", str(n), *flags]


def _rows(path) -> int:
    """Rows in a sample file another process is appending to (0 while absent or mid-update)."""
    try:
        with h5py.File(path, "r", locking=False) as handle:
            return len(handle["index"])
    except (OSError, KeyError):
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(CASES))
def test_sigkilled_samples_resume_to_the_uninterrupted_file(kind, root, tmp_path_factory):
    flags, n = CASES[kind]
    path = root / "data" / "fmnist" / f"samples_{kind}.h5"
    killed = sigkill_when(start_apq(root, _command(flags, n)), lambda: _rows(path) >= 1)
    assert killed == -signal.SIGKILL, "the run ended before it could be killed part-way"
    partial = read_samples(path)  # readable as it is: at most the sample in flight was lost
    assert 1 <= len(partial) < n and partial.index.tolist() == list(range(len(partial)))
    assert not list(path.parent.glob("*.tmp"))

    again = apq(*_command(flags, n), root=root, timeout=300)
    assert again.returncode == 0, again.stderr
    reference_root = tmp_path_factory.mktemp(f"uninterrupted_{kind}")
    (reference_root / "data" / "fmnist").mkdir(parents=True)
    shutil.copy(root / "data" / "fmnist" / "supernet.pt", reference_root / "data" / "fmnist" / "supernet.pt")
    reference = apq(*_command(flags, n), root=reference_root, timeout=300)
    assert reference.returncode == 0, reference.stderr

    resumed, uninterrupted = read_samples(path), read_samples(reference_root / "data" / "fmnist" / path.name)
    assert resumed.index.tolist() == list(range(n))  # n rows, no duplicates, none missing
    for column in COMPARED:
        np.testing.assert_array_equal(getattr(resumed, column), getattr(uninterrupted, column), err_msg=column)
    assert resumed.attrs["config"] == uninterrupted.attrs["config"]
