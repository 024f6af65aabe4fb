"""``apq samples`` from the command line: end to end on the smoke preset, error paths."""
import pytest

from apq.samples.store import read_samples
from tests.helpers.cli import apq, assert_user_error


@pytest.mark.slow
def test_smoke_end_to_end_then_up_to_date(root):
    first = apq("samples", "--preset", "smoke", "--n", "2", "--jobs", "1", root=root)
    assert first.returncode == 0, first.stderr
    path = first.stdout.strip().splitlines()[-1]
    assert path.endswith("data/fmnist/samples_fp32.h5") and len(read_samples(path)) == 2
    again = apq("samples", "--preset", "smoke", "--n", "2", root=root)
    assert again.returncode == 0 and again.stdout.strip() == path and "already holds" in again.stderr


def test_mismatched_file_is_one_line_exit_2(root):
    assert apq("samples", "--preset", "smoke", "--n", "1", "--jobs", "1", root=root).returncode == 0
    # the default preset evaluates differently: the smoke file must be refused, not extended or replaced
    before = (root / "data/fmnist/samples_fp32.h5").stat().st_mtime_ns
    assert_user_error(apq("samples", "--n", "2", root=root), "samples_fp32.h5", "'smoke' (this run: 'default')",
                      "apq samples --force")
    assert (root / "data/fmnist/samples_fp32.h5").stat().st_mtime_ns == before


@pytest.mark.parametrize("args,words", [
    (["--jobs", "0"], ["--jobs"]),
    (["--n", "many"], ["--n"]),
    (["--backend", "spark"], ["--backend"]),
    (["--backend", "loky", "--address", "tcp://127.0.0.1:1"], ["--address"]),
    (["--backend", "ray", "--jobs", "2"], ["ray"]),
])
def test_bad_flags_are_one_line_exit_2(root, args, words):
    result = apq("samples", "--preset", "smoke", "--n", "1", *args, root=root)
    assert_user_error(result, *words)
    assert not (root / "data" / "fmnist" / "samples_fp32.h5").exists()


def test_missing_supernet_and_dataset_leave_no_file(tmp_path, root):
    assert_user_error(apq("samples", "--preset", "smoke", "--space", "fmnist", "--n", "1", root=_empty(tmp_path)),
                      "apq supernet")
    result = apq("samples", "--preset", "smoke", "--n", "1", "--data-dir", str(tmp_path / "nowhere"), root=root)
    assert_user_error(result)
    assert not (root / "data" / "fmnist" / "samples_fp32.h5").exists()


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder
