"""Joint search and baselines: same budget, the freezes they promise, and no reported violation."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apq.search import methods
from apq.search.constraint import Constraint, cost_bounds
from apq.search.problem import Problem
from apq.search.run import run_search
from apq.space.space import BIT_GENES
from tests.helpers.search import baseline_names, small_config


@pytest.fixture(scope="module")
def outcome(fpga_fmnist_apq, fmnist_apq_predictor):
    table, rules = fpga_fmnist_apq
    low, high = cost_bounds(table, rules, "latency_ms")
    constraint = Constraint("latency_ms", low + 0.25 * (high - low))
    return run_search(table, fmnist_apq_predictor, constraint, small_config(generations=6), 0, with_baselines=True)


def test_every_baseline_runs_within_the_joint_query_budget(outcome, fpga_fmnist_apq):
    config = small_config(generations=6)
    assert [r.queries for r in outcome.joint] == [config.queries, config.queries]  # GA, NSGA-II
    assert all(len(log) == r.queries for log, r in zip(outcome.candidate_logs().values(),
                                                        outcome.joint + list(outcome.baselines.values())))
    budget = 2 * config.queries
    assert set(outcome.baselines) == baseline_names(fpga_fmnist_apq[0].space)
    assert outcome.baselines["random"].queries == budget
    for result in outcome.baselines.values():
        assert budget - config.children < result.queries <= budget and result.best is not None


def test_uniform_baselines_keep_every_bit_width_fixed(outcome, fpga_fmnist_apq):
    space = fpga_fmnist_apq[0].space
    for name, bits in (("uniform_w8a8", 8), ("uniform_w4a4", 4)):
        result = outcome.baselines[name]
        for batch in (result.best, result.front):
            for gene in BIT_GENES:
                assert (space.values(batch.genomes, gene) == bits).all()


def test_sequential_fixes_each_stage_before_the_next(outcome, fpga_fmnist_apq):
    space = fpga_fmnist_apq[0].space
    result = outcome.baselines["sequential"]
    assert [s["stage"] for s in result.notes["stages"]] == ["architecture", "pruning", "quantization"]
    front = result.front.genomes
    for gene in ("depth", "kernel", "mid"):  # the quantization stage searched bits only
        cols = space.slices[gene]
        assert (front[:, cols] == front[0, cols]).all()
    assert len(np.unique(front[:, space.slices["pw_w"].start:], axis=0)) == len(front)


def test_the_joint_winner_beats_or_matches_every_baseline_here(outcome):
    best = float(outcome.winner.acc[0])
    assert all(best >= float(r.best.acc[0]) - 1e-9 for r in outcome.baselines.values())


def reported(outcome):
    """Every candidate a run reports: the winner, the front, each baseline's winner and front."""
    yield outcome.winner
    yield outcome.front
    for result in outcome.baselines.values():
        if result.best is not None:
            yield result.best
        yield result.front


@settings(max_examples=8, deadline=None)
@given(share=st.floats(0.0, 1.0), seed=st.integers(0, 1000), energy=st.booleans())
def test_nothing_reported_violates_the_constraint(fpga_fmnist, fmnist_predictor, share, seed, energy):
    table, rules = fpga_fmnist
    metric = "energy_mj" if energy else "latency_ms"
    low, high = cost_bounds(table, rules, metric)
    limit = low + share**3 * (high - low)  # tight limits are the interesting ones
    config = small_config(population=20, mutation_children=10, crossover_children=10, generations=2)
    outcome = run_search(table, fmnist_predictor, Constraint(metric, limit), config, seed, with_baselines=True)
    for batch in reported(outcome):
        if batch is None:
            continue
        recomputed = table.evaluate(batch.genomes).metric(metric)
        assert (recomputed <= limit).all()
        assert rules.is_valid(batch.genomes).all()


def test_random_search_spends_exactly_its_budget(fpga_fmnist, fmnist_predictor):
    table, rules = fpga_fmnist
    problem = Problem(table, fmnist_predictor, Constraint("latency_ms", np.inf, "none"))
    result = methods.random_search(problem, small_config(), 0, budget=333)
    assert result.queries == problem.queries == len(result.candidates) == 333
    assert result.best is not None and len(result.front) >= 1
    everything = result.candidates.batch()
    assert result.best.acc[0] == everything.acc.max()  # the best row so far survives every generation


@pytest.mark.parametrize("name", ["ga", "nsga2", "random", "uniform_w8a8", "uniform_w4a4", "sequential"])
def test_every_method_has_one_signature_and_honours_a_budget(fpga_fmnist, fmnist_predictor, name):
    table, _ = fpga_fmnist
    low, high = cost_bounds(table, fpga_fmnist[1], "latency_ms")
    problem = Problem(table, fmnist_predictor, Constraint("latency_ms", low + 0.5 * (high - low)))
    method = {"ga": methods.joint_ga, "nsga2": methods.nsga2_front, **methods.baselines()}[name]
    config = small_config(generations=3)
    first = method(problem, config, [1, 2], 250)
    assert first.name == name and first.queries == len(first.candidates) <= 250
    assert first.queries > 250 - config.children
    again = method(problem, config, [1, 2], 250)
    np.testing.assert_array_equal(first.best.genomes, again.best.genomes)  # same seed, same winner
    assert method(problem, config, [1, 2]).queries <= config.queries  # no budget: the config's


def test_sequential_scores_architecture_with_the_fp32_predictor(fpga_fmnist, fmnist_predictor):
    """Stages 1 and 2 query the fp32 predictor (architecture part only), stage 3 the quantization-aware one,
    and the budget counts both."""
    from tests.helpers.search import LinearScore

    table, rules = fpga_fmnist
    low, high = cost_bounds(table, rules, "latency_ms")
    constraint = Constraint("latency_ms", low + 0.5 * (high - low))
    fp32_dim = len(fmnist_predictor.weights) - 4 * table.space.n_blocks * len(table.space.bit_choices)
    fp32 = Problem(table, LinearScore(fmnist_predictor.weights[:fp32_dim]), constraint, quant=False)
    quant = Problem(table, fmnist_predictor, constraint)
    config = small_config(generations=6)
    result = methods.sequential(quant, config, [0, 5], 2 * config.queries, fp32_problem=fp32)
    assert result.notes["architecture_scored_by"] == "fp32 predictor"
    stage_queries = [s["queries"] for s in result.notes["stages"]]
    assert fp32.queries == sum(stage_queries[:2]) and quant.queries == stage_queries[2]
    assert result.queries == fp32.queries + quant.queries <= 2 * config.queries
    assert result.best is not None and result.best.violation[0] == 0


def test_split_budget_keeps_the_whole_budget_in_whole_generations():
    config = small_config(generations=6)  # population a multiple of the children per generation
    for parts in (1, 2, 3):
        budgets = methods.split_budget(config, config.queries, parts)
        assert len(budgets) == parts and sum(budgets) == config.queries
        assert all(methods.whole_generations(config, b) == b for b in budgets)


def test_bit_floors_run_only_when_reranking_and_only_where_they_restrict():
    from apq.errors import UserError
    from apq.search.run import bit_floors, floor_shares
    from apq.space.registry import create_space

    fmnist, apq_menu = create_space("fmnist"), create_space("fmnist-apq")  # bits 2-8, and 4/6/8
    config = small_config(rerank_k=4, rerank_bit_floors=(4, 6))
    assert bit_floors(fmnist, config) == (4, 6)
    assert bit_floors(apq_menu, config) == (6,)  # 4 is that menu's narrowest: no restriction
    assert bit_floors(fmnist, config.override(rerank_k=1)) == ()
    with pytest.raises(UserError, match="does not offer"):
        bit_floors(fmnist, config.override(rerank_bit_floors=(3,)))
    with pytest.raises(UserError, match="measures only 1"):
        bit_floors(fmnist, config.override(rerank_k=2))  # two floors, one measurement to share
    assert floor_shares(4, 2) == [2, 2] and floor_shares(4, 3) == [2, 1, 1] and floor_shares(3, 2) == [2, 1]
