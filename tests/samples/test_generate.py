"""Sample generation: reproducible per index, resumable, HDF5 contents, refusal of foreign files."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from apq.errors import UserError
from apq.presets import get_preset
from apq.quant.config import get_quant_config
from apq.samples import evaluate as worker
from apq.samples.config import SAMPLE_PRESETS, SampleConfig, get_sample_config
from apq.samples.draw import sample_genome
from apq.samples.generate import RunOptions, generate_samples
from apq.samples.store import read_samples, sample_path
from apq.space.encoding import Encoder
from apq.space.registry import create_space

SPACE = create_space("fmnist")


def make(kind, n, jobs=1, backend="loky", samples=None, address=None):
    """Run smoke-preset generation in this process (jobs=1) or in workers (on the cluster at
    ``address``, as ``--backend dask --address`` does); returns the file's samples."""
    path = generate_samples(SPACE, "fmnist", kind, n, get_preset("smoke"), samples or get_sample_config("smoke"),
                            get_quant_config("smoke"), RunOptions(jobs, backend, address))
    assert path == sample_path("fmnist", kind)
    return read_samples(path)


def test_sample_seed_is_a_function_of_seed_kind_and_index():
    seeds = {(s, k, i): worker.sample_seed(s, k, i) for s in (0, 1) for k in ("fp32", "quant") for i in range(50)}
    assert len(set(seeds.values())) == len(seeds)
    assert worker.sample_seed(0, "quant", 7) == seeds[(0, "quant", 7)]
    genome = worker.draw_genome(SPACE, seeds[(0, "fp32", 3)])
    assert genome.shape == (SPACE.n_genes,) and ((genome >= 0) & (genome < SPACE.cardinality)).all()
    assert np.array_equal(genome, worker.draw_genome(SPACE, seeds[(0, "fp32", 3)]))


def test_fp32_file_holds_the_documented_columns_and_attributes(root):
    samples = make("fp32", 3)
    assert samples.index.tolist() == [0, 1, 2]
    expected = np.stack([sample_genome(SPACE, 0, "fp32", i) for i in range(3)])
    assert np.array_equal(samples.genome, expected)
    assert samples.seed.tolist() == [worker.sample_seed(0, "fp32", i) for i in range(3)]
    assert np.array_equal(samples.encoding, Encoder(SPACE).encode(expected, quant=False))
    assert ((samples.accuracy >= 0) & (samples.accuracy <= 100)).all() and (samples.loss > 0).all()
    for label in ("accuracy", "loss", "p_correct"):  # 100 even- and 100 odd-numbered validation images
        halves = getattr(samples, f"{label}_halves")
        assert halves.shape == (3, 2)
        np.testing.assert_allclose(halves.mean(axis=1), getattr(samples, label), rtol=1e-5, atol=1e-4)
    assert ((samples.p_correct > 0) & (samples.p_correct < 1)).all()
    # mean correct-class probability <= exp(-mean cross-entropy) would be Jensen the wrong way round
    assert (samples.p_correct >= np.exp(-samples.loss) - 1e-6).all()
    assert (samples.seconds > 0).all()
    attrs = samples.attrs
    assert (attrs["kind"], attrs["space"], attrs["split"]) == ("fp32", "fmnist", "val")
    assert attrs["encoding_dim"] == Encoder(SPACE).fp32_dim and attrs["n_genes"] == SPACE.n_genes
    stamp = json.loads(attrs["config"])  # the file's stamp (apq.stages.fresh)
    assert stamp["stage"] == "samples_fp32" and stamp["settings"]["evaluation"]["val_images"] == 200
    assert stamp["settings"]["evaluation"]["draw"] == "cost_stratified"
    assert len(stamp["upstream"]["supernet.pt"]) == 16 and len(stamp["fingerprint"]) == 16


def test_labels_of_one_evaluation_pass():
    """Loss and correct-class probability come from the per-image cross-entropies of the pass."""
    from apq.supernet.evaluate import EvalResult

    losses = np.array([0.1, 2.0, 0.5, 0.0])
    row = worker.labels(EvalResult(50.0, float(losses.mean()), 4, (100.0, 0.0), losses=losses))
    assert row["loss_halves"] == pytest.approx((0.3, 1.0))
    assert row["p_correct_halves"] == pytest.approx(((np.exp(-0.1) + np.exp(-0.5)) / 2, (np.exp(-2.0) + 1.0) / 2))
    assert row["p_correct"] == pytest.approx(np.exp(-losses).mean())
    assert (row["accuracy"], row["accuracy_halves"], row["loss"]) == (50.0, (100.0, 0.0), pytest.approx(0.65))


def test_file_of_an_older_layout_is_refused_then_replaced_with_force(root):
    """A file made before the soft-label columns: its stamp's format differs, so it is refused
    with --force named, and replaced with --force."""
    import h5py

    from apq.samples import generate

    make("fp32", 1)
    path = sample_path("fmnist", "fp32")
    with h5py.File(path, "a") as f:
        stamp = json.loads(f.attrs["config"])
        f.attrs["config"] = json.dumps({**stamp, "format": "apq-samples/1", "fingerprint": "0" * 16}, sort_keys=True)
        for column in ("loss_halves", "p_correct", "p_correct_halves"):
            del f[column]
    with pytest.raises(UserError, match=f"format='apq-samples/1' \\(this run: '{generate.STAMP_FORMAT}'\\).*--force"):
        make("fp32", 1)
    with pytest.raises(UserError, match="lacks the columns loss_halves, p_correct, p_correct_halves"):
        read_samples(path)
    generate_samples(SPACE, "fmnist", "fp32", 1, get_preset("smoke"), get_sample_config("smoke"),
                     get_quant_config("smoke"), RunOptions(), force=True)
    assert len(read_samples(path)) == 1


@pytest.mark.slow
def test_same_samples_with_one_or_two_jobs(root):
    serial = make("quant", 3, jobs=1)
    assert serial.attrs["encoding_dim"] == Encoder(SPACE).dim
    sample_path("fmnist", "quant").unlink()
    parallel = make("quant", 3, jobs=2)
    assert np.array_equal(serial.genome, parallel.genome) and np.array_equal(serial.seed, parallel.seed)
    np.testing.assert_array_equal(parallel.accuracy, serial.accuracy)  # single-threaded samples: bit-identical
    np.testing.assert_array_equal(parallel.loss, serial.loss)


def test_interrupted_run_resumes_to_n_without_duplicates(root, monkeypatch):
    reference = make("fp32", 4)
    sample_path("fmnist", "fp32").unlink()
    real = worker.run_sample

    def dies_at_two(job, index):
        if index == 2:
            raise KeyboardInterrupt
        return real(job, index)

    monkeypatch.setattr(worker, "run_sample", dies_at_two)
    with pytest.raises(KeyboardInterrupt):
        make("fp32", 4)
    assert read_samples(sample_path("fmnist", "fp32")).index.tolist() == [0, 1]
    monkeypatch.setattr(worker, "run_sample", real)
    resumed = make("fp32", 4)
    assert resumed.index.tolist() == [0, 1, 2, 3]
    assert np.array_equal(resumed.genome, reference.genome)
    np.testing.assert_allclose(resumed.accuracy, reference.accuracy)


def test_complete_file_is_left_alone(root, monkeypatch):
    make("fp32", 2)
    stamp = sample_path("fmnist", "fp32").stat().st_mtime_ns
    monkeypatch.setattr(worker, "load_context", lambda job: pytest.fail("loaded data for a complete file"))
    worker.release_context()
    assert len(make("fp32", 2)) == 2 and len(make("fp32", 1)) == 2
    assert sample_path("fmnist", "fp32").stat().st_mtime_ns == stamp


def test_up_to_date_check_reads_the_file_once(root, monkeypatch):
    from apq.samples import generate, store

    make("fp32", 3)
    reads = []
    monkeypatch.setattr(store, "_open", lambda *a, real=store._open: reads.append(1) or real(*a))
    generate_samples(SPACE, "fmnist", "fp32", 3, get_preset("smoke"), get_sample_config("smoke"),
                     get_quant_config("smoke"), RunOptions())
    assert len(reads) == 1  # it once re-read the whole file for every requested index (seconds per no-op run)


def test_file_made_with_other_settings_is_refused(root):
    make("fp32", 1)
    other = get_sample_config("smoke").override(fp32_val_images=100)
    with pytest.raises(UserError, match=r"evaluation.val_images=200 \(this run: 100\)"):
        make("fp32", 2, samples=other)


def test_file_made_from_another_supernet_starts_again(root, caplog):
    """Same settings, another supernet (e.g. retrained with --force): its samples measure another
    network, so the file starts again, and says why."""
    from apq.supernet import checkpoint as ckpt

    first = make("fp32", 2)
    payload = ckpt.read(ckpt.supernet_path("fmnist"), ckpt.FORMAT)
    payload["state_dict"]["tail.classifier.bias"] += 1.0
    ckpt.write(ckpt.supernet_path("fmnist"), payload)
    again = make("fp32", 1)
    assert len(again) == 1 and again.attrs["config"] != first.attrs["config"]
    assert "supernet.pt changed" in caplog.text


def test_file_made_with_other_settings_is_replaced_only_with_force(root):
    make("fp32", 1)
    other = get_sample_config("smoke").override(fp32_val_images=100)
    with pytest.raises(UserError, match="--force"):
        make("fp32", 1, samples=other)
    assert len(read_samples(sample_path("fmnist", "fp32"))) == 1  # untouched
    path = generate_samples(SPACE, "fmnist", "fp32", 1, get_preset("smoke"), other, get_quant_config("smoke"),
                            RunOptions(), force=True)
    assert "\"val_images\":100" in read_samples(path).attrs["config"]


def test_sample_config_validation():
    assert set(SAMPLE_PRESETS) == {"smoke", "default", "full"}
    assert SAMPLE_PRESETS["default"].n_fp32 >= 1000 and SAMPLE_PRESETS["default"].n_quant >= 150
    with pytest.raises(ValueError):
        SampleConfig("bad", n_fp32=0)
    with pytest.raises(ValueError, match="n_retest must be 0"):
        SampleConfig("bad", n_retest=2)
    assert SAMPLE_PRESETS["default"].retest_count(300) == 30 and SAMPLE_PRESETS["default"].retest_count(2) == 0
    assert SAMPLE_PRESETS["default"].retest_count(12) == 12
    with pytest.raises(ValueError, match="draw must be one of uniform, cost_stratified"):
        SampleConfig("bad", draw="sorted")
    with pytest.raises(UserError):
        get_sample_config("huge")


@pytest.mark.slow
def test_dask_local_cluster_makes_the_same_samples(root):
    """Issue 7's cluster path: two dask workers on loopback give the samples of a local run."""
    pytest.importorskip("dask.distributed")
    local = make("fp32", 3)
    sample_path("fmnist", "fp32").unlink()
    clustered = make("fp32", 3, jobs=2, backend="dask")
    assert np.array_equal(local.genome, clustered.genome)
    np.testing.assert_array_equal(local.accuracy, clustered.accuracy)
    np.testing.assert_array_equal(local.loss, clustered.loss)


@pytest.mark.slow
def test_dask_cluster_at_an_address_makes_the_same_samples(root):
    """``--backend dask --address``: a cluster started outside the run (here by the test, two
    worker processes on loopback) gives the samples of a local loky run."""
    distributed = pytest.importorskip("distributed")
    local = make("fp32", 3)
    sample_path("fmnist", "fp32").unlink()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                       dashboard_address=None)
    try:
        clustered = make("fp32", 3, jobs=2, backend="dask", address=cluster.scheduler_address)
    finally:
        cluster.close()
    assert np.array_equal(local.genome, clustered.genome)
    np.testing.assert_array_equal(local.accuracy, clustered.accuracy)
    np.testing.assert_array_equal(local.loss, clustered.loss)


def test_retest_file_measures_the_same_genomes_with_other_draws(root):
    """Replicate 1 (``samples_<kind>_retest.h5``): the same genomes as the samples, other seeds and
    another calibration pool, a stamp that names the replicate, and paired with the samples by
    :func:`apq.predictor.retest.paired_retest` only while it re-measures those samples."""
    from apq.predictor.retest import paired_retest
    from apq.samples.draw import replicate_seed
    from apq.stages.layout import retest_path

    main = make("quant", 4)
    path = generate_samples(SPACE, "fmnist", "quant", 3, get_preset("smoke"), get_sample_config("smoke"),
                            get_quant_config("smoke"), RunOptions(), replicate=1)
    again = read_samples(path)
    assert path == retest_path("fmnist", "quant") and again.index.tolist() == [0, 1, 2]
    assert np.array_equal(again.genome, main.genome[:3])
    assert again.seed.tolist() == [replicate_seed(0, "quant", i, 1) for i in range(3)]
    assert not set(again.seed.tolist()) & set(main.seed.tolist())
    assert replicate_seed(0, "quant", 2, 0) == worker.sample_seed(0, "quant", 2)
    assert json.loads(again.attrs["config"])["settings"]["replicate"] == 1
    first, second = paired_retest(sample_path("fmnist", "quant"), path, main.index, main.accuracy,
                                  space="fmnist", kind="quant")
    np.testing.assert_array_equal(first, main.accuracy[:3])
    np.testing.assert_array_equal(second, again.accuracy)
    other = get_sample_config("smoke").override(quant_val_images=100)
    generate_samples(SPACE, "fmnist", "quant", 4, get_preset("smoke"), other, get_quant_config("smoke"),
                     RunOptions(), force=True)
    assert paired_retest(sample_path("fmnist", "quant"), path, main.index, main.accuracy,
                         space="fmnist", kind="quant") is None  # re-measured other samples: not paired


def test_replicate_draws_its_calibration_pool_with_its_own_seed(root):
    from apq.samples.data import SampleData, calibration_seed

    job = worker.SampleJob("fmnist", "fp32", get_preset("smoke"), get_sample_config("smoke"),
                           get_quant_config("smoke"), str(sample_path("fmnist", "fp32").parent / "supernet.pt"), None)
    own = worker.context(job).data
    again = worker.context(dataclasses.replace(job, replicate=1)).data.calib
    assert torch.equal(again, own.with_calib_seed(calibration_seed(0, 1)).calib)
    assert calibration_seed(0) == calibration_seed(0, 0) != calibration_seed(0, 1)
    # smoke trains on 256 images, all in every pool; from a larger training set the pools differ
    x = torch.arange(3000, dtype=torch.float32).view(3000, 1, 1, 1)
    data = SampleData(x, torch.zeros(3000), x[:0], x[:0], x[:0], x[:0], calib=x[:0])
    assert not torch.equal(data.calibration_set(2000, calibration_seed(0)), data.calibration_set(2000, calibration_seed(0, 1)))
