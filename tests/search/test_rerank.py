"""Re-ranking by measurement: shortlists of distinct feasible candidates, measured on the
validation split with the quantized samples' procedure, the best measured one the winner."""
import json

import numpy as np
import pytest

from apq.cli import main
from apq.config import preset_config
from apq.presets import get_preset
from apq.samples.evaluate import SampleJob
from apq.search.constraint import Constraint
from apq.search.problem import Batch
from apq.search.rerank import Reranker, measure, measure_seed, shortlist
from apq.space.genome import sample
from apq.space.registry import create_space
from apq.space.space import BIT_GENES
from apq.stages.layout import supernet_path
from tests.helpers.search import baseline_names, save_random_predictor, save_smoke_supernet, search


def _pool(genomes, acc, latency):
    n = len(acc)
    return Batch(np.asarray(genomes, dtype=np.uint8), np.asarray(acc, float), np.asarray(latency, float),
                 np.full(n, np.nan), np.ones(n), np.zeros(n))


def _same_subnet(space, genome):
    """``genome`` with a gene of one of its dropped blocks changed: another genome, the same sub-net."""
    dropped = int(np.flatnonzero(~space.active_blocks(genome[None])[0])[0])
    twin = genome.copy()
    twin[space.slices["kernel"].start + dropped] = (twin[space.slices["kernel"].start + dropped] + 1) % 3
    return twin


def test_shortlist_is_the_predicted_winner_then_the_best_feasible_distinct_subnets():
    space = create_space("fmnist")
    g = sample(space, 5, np.random.default_rng(0))
    g[:, space.slices["depth"]] = 0  # every stage at its smallest depth: blocks are dropped
    g = np.vstack([g[:2], _same_subnet(space, g[1])[None], g[2:]])  # rows 1 and 2: one sub-net
    pool = _pool(g, acc=[90, 95, 95, 93, 99, 92], latency=[1, 1, 1, 1, 5, 1])  # row 4 costs too much
    first = _pool(g[:1], [90], [1])
    sources = np.array(["a", "b", "b", "c", "d", "e"])
    rows, names = shortlist(space, pool, sources, first, "a", Constraint("latency_ms", 2.0), k=4)
    assert rows.genomes.tolist() == g[[0, 1, 3, 5]].tolist() and names == ["a", "b", "c", "e"]
    assert rows.genomes.dtype == np.int64 and rows.acc.tolist() == [90, 95, 93, 92]
    one, _ = shortlist(space, pool, sources, first, "a", Constraint("latency_ms", 2.0), k=1)
    assert one.genomes.tolist() == g[:1].tolist()  # k = 1: the predicted winner alone
    few, _ = shortlist(space, pool, sources, first, "a", Constraint("latency_ms", 2.0), k=9)
    assert len(few) == 4  # fewer distinct feasible sub-nets than k


def test_shortlist_keeps_its_subnets_min_distance_genes_apart():
    space = create_space("fmnist")
    base = sample(space, 1, np.random.default_rng(2))[0]
    near, far = base.copy(), base.copy()
    near[space.slices["kernel"].start] = (base[space.slices["kernel"].start] + 1) % 3  # 1 gene away
    far[space.slices["mid"]] = (base[space.slices["mid"]] + 1) % 2  # every middle-channel gene changed
    far_genes = int(np.count_nonzero(space.canonical(far[None]) != space.canonical(base[None])))
    assert far_genes >= 3
    pool = _pool(np.stack([near, far]), acc=[95, 94], latency=[1, 1])
    first = _pool(base[None], [96], [1])
    sources = np.array(["ga", "ga"])
    close, _ = shortlist(space, pool, sources, first, "ga", Constraint("latency_ms", 2.0), k=3)
    assert len(close) == 3  # min_distance 1: any other sub-net
    spread, _ = shortlist(space, pool, sources, first, "ga", Constraint("latency_ms", 2.0), k=3, min_distance=2)
    assert spread.genomes.tolist() == [base.tolist(), far.tolist()]  # the near copy is skipped


def test_canonical_genomes_are_equal_exactly_for_the_same_subnet():
    space = create_space("fmnist")
    g = sample(space, 50, np.random.default_rng(1))
    g[:, space.slices["depth"]] = 0
    twins = np.stack([_same_subnet(space, x) for x in g])
    assert (twins != g).any(axis=1).all()
    assert np.array_equal(space.canonical(twins), space.canonical(g))
    assert len({c.tobytes() for c in space.canonical(g)}) == len({x.tobytes() for x in g})
    for x, c in zip(g, space.canonical(g)):  # the sub-net itself is untouched
        active = space.active_blocks(x[None])[0]
        for gene in ("kernel", "mid", "pw_w", "dw_a"):
            assert np.array_equal(c[space.slices[gene]][active], x[space.slices[gene]][active])


def test_a_genome_measures_alike_in_process_and_on_workers(tmp_path):
    """The evaluation seed is a function of the genome: the worker count never changes a value."""
    save_smoke_supernet()
    space, config = create_space("fmnist"), preset_config("smoke")
    job = SampleJob("fmnist", "quant", get_preset("smoke"), config.samples, config.quant, str(supernet_path("fmnist")),
                    None)
    genomes = list(sample(space, 2, np.random.default_rng(3)))
    here = measure(Reranker(job, jobs=1), genomes)
    there = measure(Reranker(job, jobs=2), genomes)
    assert [m["val_acc"] for m in here] == [m["val_acc"] for m in there]
    assert all(0.0 <= m["val_acc"] <= 100.0 for m in here)
    assert measure_seed(0, genomes[0]) != measure_seed(0, genomes[1]) and measure_seed(0, genomes[0]) == measure_seed(
        0, genomes[0].copy())


@pytest.fixture
def reranked(tmp_path):
    search("rr", "--baselines")  # smoke: search.rerank_k = 2
    return json.loads((tmp_path / "results/fmnist/fpga/rr/best.json").read_text())


def test_every_method_wins_with_its_best_measured_candidate(reranked, tmp_path):
    entries = {"joint": reranked, **reranked["baselines"]}
    assert set(entries) == {"joint"} | baseline_names(create_space("fmnist"))
    limit = reranked["constraint"]["limit"]
    measured = {}
    for name, entry in entries.items():
        shortlisted = entry["reranked"]
        assert len(shortlisted) == 2 and len({tuple(c["genome"]) for c in shortlisted}) == 2
        assert shortlisted[0]["predicted_acc"] >= shortlisted[1]["predicted_acc"]  # the predicted winner first
        chosen = [c for c in shortlisted if c["chosen"]]
        assert len(chosen) == 1 and chosen[0]["val_acc"] == max(c["val_acc"] for c in shortlisted)
        assert entry["genome"] == chosen[0]["genome"] and entry["val_acc"] == chosen[0]["val_acc"]
        assert entry["predicted_acc"] == chosen[0]["predicted_acc"]
        for c in shortlisted:
            assert c["latency_ms"] <= limit and 0.0 <= c["val_acc"] <= 100.0
            assert measured.setdefault(tuple(c["genome"]), c["val_acc"]) == c["val_acc"]  # one genome, one value
    assert reranked["method"] == next(c["method"] for c in reranked["reranked"] if c["chosen"])
    config = json.loads((tmp_path / "results/fmnist/fpga/rr/config.json").read_text())
    assert config["search"]["rerank_k"] == 2 and config["rerank"]["split"] == "val" and config["rerank"]["seconds"] > 0


def test_k_1_is_the_predicted_winner_with_nothing_measured(reranked, tmp_path):
    """Same seed, k = 1: each method's winner is the first of its k = 2 shortlist, and no
    supernet is needed (it is gone)."""
    supernet_path("fmnist").unlink()
    assert main(["search", "--target", "fpga", "--preset", "smoke", "--generations", "2", "--baselines",
                 "--set", "search.rerank_k=1", "--run", "k1"]) == 0
    plain = json.loads((tmp_path / "results/fmnist/fpga/k1/best.json").read_text())
    assert "reranked" not in plain and "val_acc" not in plain
    assert plain["genome"] == reranked["reranked"][0]["genome"]
    for name, entry in plain["baselines"].items():
        assert "reranked" not in entry and entry["genome"] == reranked["baselines"][name]["reranked"][0]["genome"]
    assert "rerank" not in json.loads((tmp_path / "results/fmnist/fpga/k1/config.json").read_text())


def test_a_missing_supernet_stops_a_reranking_search_before_it_starts(tmp_path, capsys):
    save_random_predictor("fmnist")
    assert main(["search", "--target", "fpga", "--preset", "smoke", "--generations", "2", "--run", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "apq supernet" in err[0] and "search.rerank_k=1" in err[0]
    assert not (tmp_path / "results").exists()


def test_bit_floors_split_the_joint_shortlist_and_refuse_a_width_the_space_lacks(tmp_path, capsys):
    """k = 2 with a 4-bit floor: one measurement for the unrestricted search's winner, one for the
    floored GA's (every bit width 4 or wider); the floored GA shares the joint query budget."""
    search("fl", "--set", "search.rerank_bit_floors=4")
    best = json.loads((tmp_path / "results/fmnist/fpga/fl/best.json").read_text())
    space = create_space("fmnist")
    by_source = {c["method"]: np.asarray(c["genome"]) for c in best["reranked"]}
    assert len(best["reranked"]) == 2 and "ga_floor4" in by_source and set(by_source) - {"ga_floor4"} <= {"ga", "nsga2"}
    bits = np.concatenate([np.r_[space.slices[g]] for g in BIT_GENES])
    assert space.bit_choices[by_source["ga_floor4"][bits]].min() >= 4
    queries = best["queries"]
    assert queries["ga"] + queries["ga_floor4"] == queries["nsga2"]  # NSGA-II: one whole search's budget
    assert main(["search", "--target", "fpga", "--preset", "smoke", "--generations", "2", "--run", "bad",
                 "--set", "search.rerank_bit_floors=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rerank_bit_floors" in err[0] and "2, 4, 6, 8" in err[0]
    assert not (tmp_path / "results/fmnist/fpga/bad").exists()
