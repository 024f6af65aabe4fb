"""Every candidate of a run: the genome text form, the log, and candidates.csv.gz."""
import numpy as np
import pytest

from apq.search.candidates import CANDIDATE_FIELDS, CandidateLog, read_candidates, write_candidates
from apq.search.constraint import Constraint
from apq.search.problem import Batch
from apq.space.genome import genome_text_width, genomes_from_text, genomes_to_text, sample
from apq.space.registry import create_space
from tests.helpers.search import tiny_space


@pytest.mark.parametrize("name", ["fmnist", "imagenet-apq"])
def test_genome_text_round_trips(name):
    space = create_space(name)
    genomes = sample(space, 200, np.random.default_rng(0))
    genomes[0] = space.cardinality - 1  # every gene at its last choice
    texts = genomes_to_text(space, genomes)
    assert {len(t) for t in texts} == {space.n_genes}
    np.testing.assert_array_equal(genomes_from_text(space, texts), genomes)


def test_genome_text_widens_past_62_choices_and_refuses_foreign_text():
    space = tiny_space()
    wide = type("Wide", (), {"cardinality": np.array([3, 63, 200]), "n_genes": 3, "name": "wide"})()
    assert genome_text_width(space) == 1 and genome_text_width(wide) == 2
    genomes = np.array([[2, 62, 199], [0, 0, 0]])
    np.testing.assert_array_equal(genomes_from_text(wide, genomes_to_text(wide, genomes)), genomes)
    with pytest.raises(ValueError, match="not a genome"):
        genomes_from_text(wide, ["00" * 2 + "3e"])  # 3e = 6 * 62 + 14 = 386 > 199 choices
    with pytest.raises(ValueError, match="base-62 digits"):
        genomes_from_text(wide, ["0000"])
    with pytest.raises(ValueError, match="not a genome"):
        genomes_from_text(wide, ["00-000"])


def test_chained_logs_continue_the_generation_count():
    space = tiny_space()
    rows = lambda n: Batch(np.zeros((n, space.n_genes), np.int64), *(np.zeros(n) for _ in range(5)))  # noqa: E731
    first, second = CandidateLog(space), CandidateLog(space)
    first.add(rows(3), 0)
    first.add(rows(2), 1)
    second.add(rows(4), 0)
    chained = CandidateLog.chain([first, second])
    assert len(chained) == 9
    assert chained.generations().tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]


def test_written_rows_read_back(tmp_path):
    space = create_space("fmnist")
    genomes = sample(space, 5, np.random.default_rng(1))
    log = CandidateLog(space)
    log.add(Batch(genomes, np.array([80.5, 81, 82, 83, 84.25]), np.arange(5.0), np.array([1, np.nan, 2, 3, 4]),
                  np.full(5, 1e9), np.array([0, 0.5, 0, 0, 2])), 0)
    write_candidates(tmp_path / "c.csv.gz", space, {"ga": log, "empty": CandidateLog(space)},
                     Constraint("latency_ms", 2.5))
    columns, back = read_candidates(tmp_path / "c.csv.gz", space)
    assert set(columns) == set(CANDIDATE_FIELDS) - {"genome"}
    np.testing.assert_array_equal(back, genomes)
    assert columns["method"].tolist() == ["ga"] * 5
    np.testing.assert_array_equal(columns["predicted_acc"], [80.5, 81, 82, 83, 84.25])
    assert np.isnan(columns["energy_mj"][1]) and columns["energy_mj"][2] == 2
    assert columns["feasible"].tolist() == [1, 1, 1, 0, 0]  # latency 0..4 ms under 2.5 ms
