"""Sample files as datasets: fixed hash splits that survive appends, budgets, fingerprints, refusals."""
import numpy as np
import pytest

from apq.errors import UserError
from apq.predictor.data import LABEL_KINDS, budget_rows, in_test_split, load_dataset, menu_coverage, split
from apq.predictor.synthetic import write_synthetic_samples


def test_split_is_by_sample_index_and_survives_appends():
    index = np.arange(2000)
    mask = in_test_split(index, 0.25, seed=0)
    assert 0.2 < mask.mean() < 0.3
    assert np.array_equal(in_test_split(index[:500], 0.25, 0), mask[:500])  # a shorter file: same choices
    assert np.array_equal(in_test_split(index[::-1], 0.25, 0), mask[::-1])  # order does not matter
    assert not np.array_equal(in_test_split(index, 0.25, 1), mask)


def test_smaller_test_fraction_is_a_subset():
    index = np.arange(3000)
    assert np.all(in_test_split(index, 0.25, 7)[in_test_split(index, 0.2, 7)])


def test_budget_rows():
    pool = np.arange(10, 60)
    rows = budget_rows(pool, 20, seed=3)
    assert len(rows) == 20 and set(rows) <= set(pool) and np.array_equal(rows, budget_rows(pool, 20, 3))
    assert np.array_equal(budget_rows(pool, 999, 0), pool)


def test_load_split_and_fingerprint(fmnist, synthetic_samples, tmp_path):
    data = load_dataset(fmnist, "quant")
    assert data.X.shape == (80, 400) and data.X.dtype == np.float32 and data.y.shape == (80,)
    pool, test = split(data, 0.25, 0)
    assert len(np.intersect1d(pool, test)) == 0 and len(pool) + len(test) == 80
    assert data.fingerprint["rows"] == 80 and data.fingerprint["file"] == "samples_quant.h5"
    other = load_dataset(fmnist, "quant", write_synthetic_samples(fmnist, tmp_path / "q.h5", "quant", 80, seed=4))
    assert other.fingerprint["sha256"] != data.fingerprint["sha256"]


def test_missing_mismatched_and_tiny_files(fmnist, apq_space, tmp_path):
    with pytest.raises(UserError, match="no quant sample file .*apq samples --space fmnist --quant"):
        load_dataset(fmnist, "quant")
    foreign = write_synthetic_samples(apq_space, tmp_path / "apq.h5", "fp32", 3)
    with pytest.raises(UserError, match="space='imagenet-apq'.*space='fmnist'"):
        load_dataset(fmnist, "fp32", foreign)
    tiny = load_dataset(fmnist, "fp32", write_synthetic_samples(fmnist, tmp_path / "tiny.h5", "fp32", 6))
    with pytest.raises(UserError, match="too few"):
        split(tiny, 0.25, 0)


def test_every_label_kind_higher_is_better(fmnist, synthetic_samples):
    from apq.samples.store import read_samples

    data = load_dataset(fmnist, "quant")
    samples = read_samples(synthetic_samples["quant"])
    assert set(data.labels) == set(data.label_halves) == set(LABEL_KINDS)
    np.testing.assert_array_equal(data.labels["accuracy"], data.y)
    np.testing.assert_array_equal(data.label_halves["accuracy"], data.halves)
    np.testing.assert_allclose(data.labels["loss"], -samples.loss)  # negated: higher is better
    np.testing.assert_allclose(data.label_halves["p_correct"], samples.p_correct_halves)
    assert all(v.shape == (80,) for v in data.labels.values()) and all(v.shape == (80, 2) for v in data.label_halves.values())
    rows = np.array([3, 1])
    np.testing.assert_array_equal(data.rows(rows, "p_correct")[1], samples.p_correct[rows])
    np.testing.assert_array_equal(data.genome, samples.genome)


def test_menu_coverage_counts_widths_at_kept_positions(fmnist):
    from apq.space.space import BIT_GENES

    genomes = np.zeros((3, fmnist.n_genes), dtype=np.int64)
    genomes[:, fmnist.slices["depth"]] = fmnist.cardinality[fmnist.slices["depth"]] - 1  # every block kept
    genomes[0, fmnist.slices["pw_w"]] = 1
    out = menu_coverage(fmnist, genomes)
    assert out["min_count"] == 0 and out["n_genomes"] == 3  # most widths never drawn
    full = np.repeat(genomes[:1], len(fmnist.bit_choices), axis=0)
    for width in range(len(fmnist.bit_choices)):
        for gene in BIT_GENES:
            full[width, fmnist.slices[gene]] = width
    assert menu_coverage(fmnist, full)["min_count"] == 1
    shallow = full.copy()
    shallow[0, fmnist.slices["depth"]] = 0  # a dropped block does not count
    lacking = menu_coverage(fmnist, shallow)
    assert lacking["min_count"] == 0 and lacking["min_at"]["bits"] == int(fmnist.bit_choices[0])


def test_default_quantized_samples_give_100_held_out_and_cover_the_menu(fmnist):
    """Issue 16: >= 100 held-out quantized samples at the default preset, and every bit width at
    every kept layer position many times in the training pool."""
    from apq.predictor.config import get_predictor_config
    from apq.presets import get_preset
    from apq.samples.config import get_sample_config
    from apq.samples.draw import sample_genome

    n, seed = get_sample_config("default").n_quant, get_preset("default").seed
    in_test = in_test_split(np.arange(n), get_predictor_config("default").quant_test_fraction, seed)
    assert in_test.sum() >= 100
    pool = np.stack([sample_genome(fmnist, seed, "quant", i) for i in np.flatnonzero(~in_test)])
    assert menu_coverage(fmnist, pool)["min_count"] >= 15
