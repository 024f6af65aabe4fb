"""Bad input, end to end: every file or value a user can get wrong, run through the CLI as a user would.

Each row of :data:`ROWS` writes one bad input (small and hand-made) into a fresh APQ_ROOT, runs
``apq ...`` on it and checks what docs/architecture.md (Conventions) promises: exit code 2, exactly
one ``apq: error: ...`` line on stderr naming the problem, and no partial artifact (every file and
folder under the root is exactly as before the command, and no ``*.tmp`` file is left).

The rows run in this process through :func:`apq.cli.main`, with the root as working folder and
APQ_ROOT, log records and warnings sent to stderr as the console script sends them (a new
interpreter per row cost about 3 s each); one row also runs as a separate ``python -m apq``
process, to check that both ways give the same line. This file is the bad-input table: each
row's ``what``, its command and the words its one line must contain.

Rows that an older test already covers are listed in :data:`COVERED_ELSEWHERE` with that test's
name, so that this file is the one place to read the whole table; a test checks that the named
tests still exist.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from apq.cli import main as apq_main
from apq.data.idx import write_idx
from apq.data.mnist import IDX_FILES
from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.predictor.synthetic import write_synthetic_samples
from apq.samples.store import sample_path
from apq.search.constraint import cost_bounds
from apq.space.config import SpaceConfig
from apq.space.genome import Rules
from apq.space.registry import create_space
from apq.space.space import SearchSpace
from tests.helpers.cli import PROJECT
from tests.helpers.search import save_random_predictor
from tests.helpers.pickles import Exploit
from tests.helpers.cli import apq, assert_user_error

SEARCH = ["search", "--space", "fmnist", "--target", "fpga", "--preset", "smoke"]
PREDICTOR = ["predictor", "--space", "fmnist", "--preset", "smoke"]
SUPERNET = ["supernet", "--preset", "smoke"]
SAMPLES = ["samples", "--preset", "smoke", "--n", "1", "--jobs", "1"]


# ----- small hand-made inputs -----------------------------------------------------------------
def idx_folder(root: Path, damage: Callable[[dict[str, Path]], None] | None = None) -> Path:
    """A tiny Fashion-MNIST-style folder (12 train, 4 test images of 28x28) under ``root/idx``,
    then ``damage`` applied to its files (keyed by role, see :data:`apq.data.mnist.IDX_FILES`)."""
    folder = root / "idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", 12), ("test", 4)):
        images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10
        for kind, array in (("images", images), ("labels", labels)):
            role = f"{split}_{kind}"
            files[role] = write_idx(folder / IDX_FILES[role], array)
    if damage is not None:
        damage(files)
    return folder


def _bad_magic(files):
    path = files["train_images"]
    path.write_bytes(b"\x00\x00\x0d\x03" + path.read_bytes()[4:])  # type 0x0d (float32): not an MNIST file


def _truncated(files):
    path = files["train_images"]
    path.write_bytes(path.read_bytes()[:5000])


def _truncated_gzip(files):
    path = files["train_images"]
    packed = gzip.compress(path.read_bytes())
    path.unlink()
    path.with_name(path.name + ".gz").write_bytes(packed[:len(packed) // 2])


def _fewer_labels(files):
    write_idx(files["train_labels"], np.zeros(11, dtype=np.uint8))  # 11 labels for 12 images


def image_folder(root: Path, bad: bytes) -> Path:
    """A class-per-folder dataset (2 classes, 2 PNGs each per split) whose first training image is ``bad``."""
    from PIL import Image

    folder = root / "images"
    for split in ("train", "test"):
        for name in ("boot", "shirt"):
            (folder / split / name).mkdir(parents=True)
            for i in range(2):
                Image.new("L", (28, 28), color=40 * i).save(folder / split / name / f"{i}.png")
    (folder / "train" / "boot" / "0.png").write_bytes(bad)
    return folder


def _png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def folder_space(root: Path) -> Path:
    """A user space .json: the fmnist space trained on a class-per-folder dataset."""
    config = {**create_space("fmnist").config.to_dict(), "name": "fmnist-folder", "dataset": "folder",
              "num_classes": 2}
    path = root / "fmnist-folder.json"
    path.write_text(json.dumps(config))
    return path


def other_bits_space() -> SearchSpace:
    """A space also called 'fmnist' but without the 6-bit choice: another encoding dimension (360, not 400)."""
    config = create_space("fmnist").config.to_dict()
    return SearchSpace(SpaceConfig.from_dict({**config, "bits": [2, 4, 8]}))


def synthetic(root: Path, quant_space: SearchSpace | None = None) -> dict:
    """Small SYNTHETIC fp32 and quant sample files at the fmnist paths (the quant one of ``quant_space``)."""
    fmnist = create_space("fmnist")
    paths = {k: sample_path("fmnist", k) for k in ("fp32", "quant")}
    paths["fp32"].parent.mkdir(parents=True, exist_ok=True)
    write_synthetic_samples(fmnist, paths["fp32"], "fp32", 24)
    write_synthetic_samples(quant_space or fmnist, paths["quant"], "quant", 24)
    return paths


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def lut(root: Path, damage: str) -> Path:
    """The complete APQ-format LUT of fmnist on fpga (what ``apq lut --format apq`` writes) with one entry damaged."""
    from apq.hardware.cost import block_option_layers
    from apq.hardware.lut import distinct_layers, write_lut

    space, target = create_space("fmnist"), create_target("fpga")
    path = root / f"fpga-{damage}.json"
    write_lut(path, distinct_layers(list(block_option_layers(space))), target,
              target.fixed_cost(space.head_layers(), space.tail_layers()), space.name, "apq")
    table = json.loads(path.read_text())
    key = next(k for k in table if k not in ("head", "tail"))
    if damage == "missing":
        del table[key]
    else:
        table[key]["latency"] = -0.5 if damage == "negative" else float("nan")
    path.write_text(json.dumps(table))  # NaN is written as the bare token NaN, as json.dumps does
    return path


def other_space_lut(root: Path) -> Path:
    """The own-format LUT of imagenet-apq on fpga (what ``apq lut --space imagenet-apq --target fpga -o`` writes)."""
    from apq.hardware.cost import block_option_layers
    from apq.hardware.lut import distinct_layers, write_lut

    space, target = create_space("imagenet-apq"), create_target("fpga")
    return write_lut(root / "fpga-imagenet-apq.json", distinct_layers(list(block_option_layers(space))), target,
                     target.fixed_cost(space.head_layers(), space.tail_layers()), space.name)


def fpga_bounds(metric: str) -> tuple[float, float]:
    """Exact (cheapest, dearest) ``metric`` (latency_ms or energy_mj) of fmnist genomes on fpga."""
    table = CostTable(create_space("fmnist"), create_target("fpga"))
    return cost_bounds(table, Rules(table.space, table.target.forbidden), metric)


LOW, HIGH = fpga_bounds("latency_ms")
ENERGY_LOW, ENERGY_HIGH = fpga_bounds("energy_mj")


# ----- the table --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One bad input: ``make(root)`` writes it under the root and returns the CLI arguments."""

    id: str
    what: str
    make: Callable[[Path], list[str]]
    words: tuple[str, ...]
    supernet: bool = False  # put a smoke-preset data/fmnist/supernet.pt under the root first
    predictor: bool = False  # put a quant predictor under predictors/fmnist/ first (search rows)
    blocked: tuple[str, ...] = ()  # modules made unimportable while the command runs (a missing extra)


def _idx(damage, command):
    return lambda root: [*command, "--data-dir", str(idx_folder(root, damage))]


def _images(bad):
    return lambda root: [*SUPERNET, "--space", str(folder_space(root)), "--data-dir", str(image_folder(root, bad))]


def _samples(change):
    def make(root):
        change(synthetic(root))
        return PREDICTOR
    return make


def _foreign_h5(paths):
    paths["fp32"].unlink()
    with h5py.File(paths["fp32"], "w") as handle:  # valid HDF5, not ours
        handle.create_dataset("images", data=np.zeros((4, 28, 28), dtype=np.uint8))
        handle.attrs["creator"] = "someone else"


def _other_space_samples(root):
    synthetic(root)["quant"].unlink()
    write_synthetic_samples(create_space("imagenet-apq"), sample_path("fmnist", "quant"), "quant", 8)
    return PREDICTOR


def _other_encoding_samples(root):
    synthetic(root, quant_space=other_bits_space())
    return PREDICTOR


def _resume_truncated(root):
    path = sample_path("fmnist", "fp32")
    write_synthetic_samples(create_space("fmnist"), path, "fp32", 24)
    _truncate(path)
    return SAMPLES


def _predictor_for(space: SearchSpace | str):
    def make(root):
        from apq.predictor.estimator import QuantMLPPredictor
        from apq.predictor.load import save_predictor
        from apq.predictor.network import AccuracyMLP
        from apq.space.encoding import Encoder

        theirs = create_space(space) if isinstance(space, str) else space
        encoder = Encoder(theirs)
        net = AccuracyMLP(encoder.fp32_dim, encoder.dim - encoder.fp32_dim, hidden_size=8)
        predictor = QuantMLPPredictor(encoder.fp32_dim, hidden_size=8).set_network(net, 85.0)
        path = save_predictor(predictor, root / "theirs.pt", "quant", theirs)
        return [*SEARCH, "--latency", "3", "--predictor", str(path)]
    return make


def _pickled_predictor(root):
    path = root / "evil.pt"
    torch.save({"format": "apq-predictor", "kind": "quant", "extra": Exploit(root / "unpickled")}, path)
    return [*SEARCH, "--latency", "3", "--predictor", str(path)]


def _supernet(change):
    """Rows with ``supernet=True``: ``change`` the copied data/fmnist/supernet.pt, then run ``apq samples``."""
    def make(root):
        change(root / "data" / "fmnist" / "supernet.pt")
        return SAMPLES
    return make


def _other_space_supernet(path):
    from apq.supernet import checkpoint as ckpt

    payload = ckpt.read(path, ckpt.FORMAT)
    payload["meta"] = {**payload["meta"], "space": "imagenet-apq"}  # as if trained for the other space
    ckpt.write(path, payload)


def _lut_row(damage, command):
    def make(root):
        path = other_space_lut(root) if damage == "other-space" else lut(root, damage)
        return ["lut", "--space", "fmnist", "--target", str(path)] if command == "lut" else \
            ["search", "--space", "fmnist", "--target", str(path), "--preset", "smoke", "--latency", "3"]
    return make


ROWS = [
    # datasets: IDX files (Fashion-MNIST layout) and class-per-folder images
    Row("idx-bad-magic-data", "IDX file with bad magic (type 0x0d)", _idx(_bad_magic, ["data"]),
        ("train-images-idx3-ubyte", "bad IDX magic")),
    Row("idx-bad-magic-supernet", "IDX file with bad magic (type 0x0d)", _idx(_bad_magic, SUPERNET),
        ("train-images-idx3-ubyte", "bad IDX magic")),
    Row("idx-truncated", "truncated IDX file", _idx(_truncated, SUPERNET), ("train-images-idx3-ubyte", "truncated")),
    Row("idx-truncated-gzip", "truncated gzip of an IDX file", _idx(_truncated_gzip, SUPERNET),
        ("train-images-idx3-ubyte.gz", "corrupt or truncated gzip")),
    Row("idx-label-count", "11 labels for 12 images", _idx(_fewer_labels, SAMPLES), ("11 labels", "12 images"),
        supernet=True),
    Row("folder-corrupt-image", "image folder: a .png holding garbage", _images(b"this is not a png\n"),
        ("cannot read image", "0.png")),
    Row("folder-truncated-image", "image folder: a truncated .png", _images(_png_bytes()[:60]),
        ("cannot read image", "0.png")),
    # sample files (HDF5)
    Row("h5-truncated-predictor", "truncated samples_fp32.h5", _samples(lambda p: _truncate(p["fp32"])),
        ("samples_fp32.h5", "not a readable HDF5")),
    Row("h5-truncated-samples", "truncated samples_fp32.h5, resumed", _resume_truncated,
        ("samples_fp32.h5", "not a readable HDF5"), supernet=True),
    Row("h5-foreign", "samples_fp32.h5: valid HDF5 not made by apq", _samples(_foreign_h5),
        ("samples_fp32.h5", "not an apq-engine sample file")),
    Row("h5-other-space", "samples_quant.h5 of space imagenet-apq", _other_space_samples,
        ("samples_quant.h5", "imagenet-apq", "fmnist")),
    Row("h5-other-encoding", "samples_quant.h5 of another encoding (bits 2, 4, 8 only)", _other_encoding_samples,
        ("samples_quant.h5", "encoding_dim='360'", "encoding_dim='400'")),
    # predictor checkpoints
    Row("pt-other-space", "--predictor of space imagenet-apq", _predictor_for("imagenet-apq"),
        ("imagenet-apq", "772", "fmnist", "400")),
    Row("pt-other-encoding", "--predictor of another fmnist encoding (bits 2, 4, 8 only)", _predictor_for(other_bits_space()),
        ("encoding dim 360", "encoding dim 400")),
    # supernet files
    Row("supernet-other-space", "supernet.pt of space imagenet-apq", _supernet(_other_space_supernet),
        ("supernet.pt", "'imagenet-apq'", "not 'fmnist'"), supernet=True),
    Row("supernet-truncated", "truncated supernet.pt", _supernet(_truncate),
        ("supernet.pt", "truncated or corrupt"), supernet=True),
    Row("pt-pickle", "--predictor carrying a pickle payload", _pickled_predictor, ("evil.pt", "pickled Python object", "never loaded")),
    # hardware tables
    Row("lut-missing-lut", "LUT missing one entry", _lut_row("missing", "lut"), ("missing", "fpga-missing")),
    Row("lut-missing-search", "LUT missing one entry", _lut_row("missing", "search"), ("missing", "fpga-missing")),
    Row("lut-negative", "LUT with a negative latency", _lut_row("negative", "search"), ("negative", "-0.5")),
    Row("lut-nan", "LUT with a NaN latency", _lut_row("nan", "lut"), ("NaN", "nan")),
    Row("lut-other-space-lut", "own-format LUT made for space imagenet-apq", _lut_row("other-space", "lut"),
        ("fpga-imagenet-apq.json", "'imagenet-apq'", "not 'fmnist'")),
    Row("lut-other-space-search", "own-format LUT made for space imagenet-apq", _lut_row("other-space", "search"),
        ("fpga-imagenet-apq.json", "'imagenet-apq'", "not 'fmnist'"), predictor=True),
    # names
    Row("unknown-space", "unknown space", lambda root: ["space", "--space", "cifar-huge"], ("unknown space", "fmnist")),
    Row("unknown-target", "unknown target", lambda root: ["lut", "--space", "fmnist", "--target", "tpu9"],
        ("unknown target", "bitfusion")),
    Row("unknown-preset", "unknown preset", lambda root: [*SUPERNET[:1], "--preset", "huge"], ("preset", "huge")),
    # search constraints
    Row("latency-infeasible", "--latency below the cheapest genome (half of it)",
        lambda root: [*SEARCH, "--latency", f"{LOW / 2:.6g}"], ("infeasible", f"{LOW:.6g} to {HIGH:.6g} ms", "at least"),
        predictor=True),
    Row("latency-negative", "--latency -1", lambda root: [*SEARCH, "--latency", "-1"], ("--latency -1", "ms"),
        predictor=True),
    Row("latency-nan", "--latency nan", lambda root: [*SEARCH, "--latency", "nan"], ("--latency nan",),
        predictor=True),
    Row("energy-nan", "--energy nan", lambda root: [*SEARCH, "--energy", "nan"], ("--energy nan", f"{ENERGY_LOW:.6g} to {ENERGY_HIGH:.6g} mJ"),
        predictor=True),
    Row("samples-retest-two", "`apq samples --retest 2` (a noise estimate needs 3 pairs)",
        lambda root: [*SAMPLES, "--retest", "2"], ("--retest must be 0 (none) or at least 3",)),
    # optional extras that are not installed: refused before any work
    Row("extra-export", "`apq export` without onnxruntime", lambda root: ["export", "--target", "fpga"],
        ("apq export --format all", "'export' extra", "pip install 'apq-engine[export]'"), blocked=("onnxruntime",)),
    Row("extra-dask", "`--backend dask` without dask.distributed", lambda root: [*SAMPLES, "--backend", "dask"],
        ("--backend dask", "'cluster' extra", "pip install 'apq-engine[cluster]'"), supernet=True,
        blocked=("dask.distributed",)),
    Row("extra-ray", "`--backend ray` without ray", lambda root: [*SAMPLES, "--backend", "ray", "--jobs", "2"],
        ("--backend ray", "'ray' extra", "pip install 'apq-engine[ray]'"), supernet=True, blocked=("ray",)),
    Row("extra-images", "an image-folder dataset without Pillow", _images(_png_bytes()),
        ("class-per-folder", "'images' extra", "pip install 'apq-engine[images]'"), blocked=("PIL.Image",)),
]

#: Rows of the table whose test lives next to the code it exercises: (input, command, test).
COVERED_ELSEWHERE = [
    ("supernet.pt / supernet.ckpt.pt carrying a pickle payload", "apq supernet",
     "tests/supernet/test_untrusted_files.py::test_cli_refuses_a_pickle_payload_and_leaves_no_artifact"),
    ("truncated or non-torch supernet.pt", "(load_supernet)",
     "tests/supernet/test_untrusted_files.py::test_load_supernet_refuses_a_damaged_file"),
    ("no supernet.pt; --data-dir without the dataset", "apq samples",
     "tests/samples/test_cli.py::test_missing_supernet_and_dataset_leave_no_file"),
    ("samples_fp32.h5 made with another preset's settings", "apq samples",
     "tests/samples/test_cli.py::test_mismatched_file_is_one_line_exit_2"),
    ("samples_fp32.h5 made from another supernet (starts again, logged)", "(generate_samples)",
     "tests/samples/test_generate.py::test_file_made_from_another_supernet_starts_again"),
    ("samples_fp32.h5 made with other settings, without --force", "(generate_samples)",
     "tests/samples/test_generate.py::test_file_made_with_other_settings_is_replaced_only_with_force"),
    ("bad --jobs/--n/--backend/--address", "apq samples", "tests/samples/test_cli.py::test_bad_flags_are_one_line_exit_2"),
    ("no sample files", "apq predictor", "tests/predictor/test_cli.py::test_missing_samples_exit_2_and_nothing_written"),
    ("no supernet.pt for predictor.sensitivity_images", "(build_predictors)",
     "tests/predictor/test_prior.py::test_without_a_scan_the_stage_needs_no_supernet_and_with_one_says_so"),
    ("no predictor", "apq search", "tests/search/test_cli.py::test_missing_predictor_is_one_line_and_no_run_folder"),
    ("--energy -2, --latency and --energy, --latency fast, bad --run", "apq search",
     "tests/search/test_cli.py::test_bad_constraints_exit_2_with_one_line_and_no_run_folder"),
    ("--energy on the cpu target", "apq search",
     "tests/search/test_cli.py::test_energy_on_the_cpu_target_is_refused_before_any_timing"),
    ("an existing --run name", "apq search", "tests/search/test_cli.py::test_an_existing_run_name_is_refused"),
    ("bad --format, --sample -3, unknown command", "apq lut / apq space",
     "tests/test_cli.py::test_bad_input_is_one_line_exit_2"),
]

def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``: relative path -> 'dir' or the file's SHA-256."""
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def prepare(row: Row, root: Path, supernet_file: Path) -> list[str]:
    """Write the row's inputs under ``root``; returns the CLI arguments."""
    if row.supernet:
        target = root / "data" / "fmnist" / "supernet.pt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(supernet_file, target)
    if row.predictor:
        save_random_predictor("fmnist")
    return row.make(root)


@dataclass(frozen=True)
class Outcome:
    """What a user sees of one command: its exit code and its stderr."""

    returncode: int
    stderr: str


def _warning_to_stderr(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def apq_in_process(args: list[str], root: Path, capsys, monkeypatch) -> Outcome:
    """``apq ARGS`` through :func:`apq.cli.main` in this process, in ``root`` (working folder and
    APQ_ROOT), with log records (INFO and up) and warnings on stderr as in a console run."""
    monkeypatch.chdir(root)
    monkeypatch.setenv("APQ_ROOT", str(root))
    capsys.readouterr()
    logger, handler = logging.getLogger(), logging.StreamHandler(sys.stderr)  # capsys's stderr, now
    level, threads = logger.level, torch.get_num_threads()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _warning_to_stderr
            try:
                code = apq_main(list(args))
            except SystemExit as exit_:  # argparse's refusals
                code = exit_.code
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        torch.set_num_threads(threads)
    return Outcome(code, capsys.readouterr().err)


def assert_refused_leaving_nothing(row: Row, result, root: Path, before: dict[str, str]) -> None:
    assert_user_error(result, *row.words)
    after = snapshot(root)
    assert after == before, f"left behind or changed: {sorted(set(after.items()) ^ set(before.items()))}"
    assert not list(root.rglob("*.tmp")) and not (root / "unpickled").exists()


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_refused_in_one_line_leaving_nothing(row, tmp_path, smoke_supernet, capsys, monkeypatch):
    args = prepare(row, tmp_path, smoke_supernet)
    before = snapshot(tmp_path)
    for name in row.blocked:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ImportError
    assert_refused_leaving_nothing(row, apq_in_process(args, tmp_path, capsys, monkeypatch), tmp_path, before)


@pytest.mark.parametrize("row_id", ["h5-other-space"])
def test_a_row_as_its_own_process_gives_the_same_line(row_id, tmp_path, smoke_supernet, capsys, monkeypatch):
    """The in-process harness against the console path: the same row, same root, same one line."""
    row = next(r for r in ROWS if r.id == row_id)
    args = prepare(row, tmp_path, smoke_supernet)
    before = snapshot(tmp_path)
    result = apq(*args, root=tmp_path, timeout=120)
    assert_refused_leaving_nothing(row, result, tmp_path, before)
    assert apq_in_process(args, tmp_path, capsys, monkeypatch).stderr == result.stderr


@pytest.mark.parametrize("what,command,test", COVERED_ELSEWHERE, ids=[t.split("::")[1] for *_, t in COVERED_ELSEWHERE])
def test_rows_covered_elsewhere_still_exist(what, command, test):
    path, name = test.split("::")
    assert f"def {name}(" in (PROJECT / path).read_text(), f"{test} ({what}) is gone: move the row back here"
