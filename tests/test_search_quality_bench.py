"""bench/search_quality.py's statistics: pooled margins, intervals and p-values over seeds, best
uniform, the winner's curse before and after re-ranking, a variant against the default, on
hand-made verified runs; which finished runs are reused; headroom on the smoke preset."""
import importlib.util
import json
import sys

import numpy as np
import pytest

from apq.verify.stats import mcnemar_exact, pack_correct
from tests.helpers.cli import PROJECT

spec = importlib.util.spec_from_file_location("search_quality", PROJECT / "bench" / "search_quality.py")
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # its dataclasses look their module up while it loads
spec.loader.exec_module(bench)


def _result(correct, predicted, val=None):
    correct = np.asarray(correct, dtype=bool)
    verified = {"measured_acc": 100.0 * correct.mean(), "test_images": len(correct), "correct_b64": pack_correct(correct),
                "predicted_acc": predicted}
    best = {"predicted_acc": predicted, **({} if val is None else {"val_acc": val})}
    return verified, best


def _unit(rng, n, joint_rate, rates, val=None):
    """A verified run: the joint winner and baselines right on images at the given rates."""
    joint, joint_best = _result(rng.random(n) < joint_rate, 92.0, val)
    baselines = {name: _result(rng.random(n) < rate, 90.0, val) for name, rate in rates.items()}
    verify = {**joint, "baselines": {name: v for name, (v, _) in baselines.items()}}
    best = {**joint_best, "baselines": {name: b for name, (_, b) in baselines.items()}}
    return {"best": best, "verify": verify}


def test_pooled_comparison_sums_discordant_images_over_seeds():
    a = [np.array([1, 1, 0, 1, 0], bool), np.array([1, 1, 1, 0], bool)]
    b = [np.array([0, 1, 0, 0, 1], bool), np.array([0, 1, 0, 0], bool)]
    out = bench.pooled_comparison(list(zip(a, b)))
    assert out["discordant"] == [4, 1] and out["p"] == pytest.approx(mcnemar_exact(4, 1))
    assert out["per_seed"] == pytest.approx([20.0, 50.0]) and out["margin"] == pytest.approx(35.0)
    assert out["ci95"][0] <= out["margin"] <= out["ci95"][1]


def test_a_case_compares_with_every_baseline_and_the_best_uniform_level():
    rng = np.random.default_rng(0)
    rates = {"uniform_w8a8": 0.80, "uniform_w4a4": 0.70, "random": 0.85}
    units = {(s, k): _unit(rng, 2000, 0.9, rates, val=None if k == 1 else 95.0) for s in (0, 1, 2) for k in (1, 4)}
    case = bench.summarise_case("fpga", "tight", 1.5, [0, 1, 2], [1, 4], 4, units)
    assert set(case["vs"]) == {"uniform_w8a8", "uniform_w4a4", "random", "best_uniform"}
    assert case["vs"]["best_uniform"]["of"] == "uniform_w8a8"  # the better uniform level of the case
    assert case["vs"]["best_uniform"]["margin"] == pytest.approx(case["vs"]["uniform_w8a8"]["margin"])
    assert 5 < case["vs"]["uniform_w8a8"]["margin"] < 15 and case["vs"]["uniform_w8a8"]["p"] < 1e-6
    joint_acc = [units[s, 4]["verify"]["measured_acc"] for s in (0, 1, 2)]
    before = np.mean([92.0 - units[s, 1]["verify"]["measured_acc"] for s in (0, 1, 2)])
    assert case["winners_curse"]["joint"]["before"] == pytest.approx(before)
    assert case["winners_curse"]["joint"]["after"] == pytest.approx(95.0 - np.mean(joint_acc))
    assert case["by_k"]["4"]["joint"] == pytest.approx(np.mean(joint_acc))
    assert case["checks"]["beats_every_baseline_p_below_0_05"] and case["checks"]["never_significantly_worse"]
    assert not case["checks"]["reranked_joint_abs_error_within_1"]  # 95 on validation, about 90 on test


def test_a_case_without_k1_runs_compares_at_k_and_has_no_before():
    rng = np.random.default_rng(1)
    units = {(s, 4): _unit(rng, 2000, 0.9, {"uniform_w4a4": 0.88}, val=91.0) for s in (0, 1, 2)}
    case = bench.summarise_case("fpga", "mid", 3.2, [0, 1, 2], [4], 4, units)  # what --no-before mid runs
    assert set(case["vs"]) == {"uniform_w4a4", "best_uniform"} and list(case["by_k"]) == ["4"]
    assert case["winners_curse"]["joint"]["before"] is None and case["winners_curse"]["joint"]["after"] is not None


def test_the_shortlist_curse_counts_every_measured_candidate_of_every_seed():
    def unit(joint, random):
        shortlist = lambda pairs: [{"predicted_acc": p, "val_acc": v} for p, v in pairs]
        return {"best": {"reranked": shortlist(joint), "baselines": {"random": {"reranked": shortlist(random)},
                                                                      "uniform_w8a8": {}}}}
    out = bench.shortlist_curse([unit([(92, 89), (91, 90)], [(90, 90)]), unit([(93, 89)], [(90, 89)])])
    assert out == {"joint": {"mean": pytest.approx(8 / 3), "n": 3}, "random": {"mean": pytest.approx(0.5), "n": 2}}


def test_a_tagged_case_compares_its_joint_winner_with_the_untagged_runs(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    monkeypatch.setattr(bench, "results_dir", lambda space, target: tmp_path)
    units = {(s, 4): _unit(rng, 2000, 0.9, {"random": 0.85}, val=95.0) for s in (0, 1)}
    assert "joint_untagged" not in bench.summarise_case("fpga", "mid", 1.5, [0, 1], [4], 4, units, "floor4")["vs"]
    for s in (0, 1):
        (tmp_path / bench.run_name("mid", s, 4)).mkdir()
        plain = _unit(rng, 2000, 0.8, {}, val=95.0)["verify"]
        (tmp_path / bench.run_name("mid", s, 4) / "verify.json").write_text(json.dumps(plain))
    vs = bench.summarise_case("fpga", "mid", 1.5, [0, 1], [4], 4, units, "floor4")["vs"]
    assert 5 < vs["joint_untagged"]["margin"] < 15 and vs["joint_untagged"]["p"] < 1e-6


def test_a_run_made_with_other_search_settings_is_refused_not_reused(tmp_path, monkeypatch):
    """A finished run is reused only if made with the asked settings; one made before a setting
    existed counts as made with that setting's value of then."""
    from apq.config import preset_config

    monkeypatch.setattr(bench, "results_dir", lambda space, target: tmp_path)
    calls = []
    monkeypatch.setattr(bench, "apq", lambda argv: calls.append(argv[0]) or 1)  # any verify "fails"
    made = preset_config("smoke").search.to_dict()
    made.pop("rerank_bit_floors")  # a run from before the setting existed
    made["rerank_k"] = 2
    for name in (bench.run_name("mid", 0, 2), bench.run_name("mid", 0, 2, "floor4")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "best.json").write_text("{}")
        (tmp_path / name / "config.json").write_text(json.dumps({"search": made}))
    monkeypatch.setattr(bench, "reuse_verified", lambda run_dir, donors: None)
    plain = bench.run_unit("fpga", "mid", 1.5, 0, 2, bench.Runs("smoke"))
    assert calls == ["verify"] and "verify failed" in plain["error"]  # reused: straight to verification
    floored = bench.run_unit("fpga", "mid", 1.5, 0, 2, bench.Runs("smoke", ("search.rerank_bit_floors=4",), "floor4"))
    assert calls == ["verify"] and "other search settings" in floored["error"]


def test_a_run_reuses_the_verified_winners_of_its_seeds_other_runs(tmp_path):
    """Winners with a genome a donor verified start as finished (the joint one with its winner.pt);
    the others are left for apq verify."""
    import json

    donor, run = tmp_path / "k4", tmp_path / "k1"
    donor.mkdir(), run.mkdir()
    settings = {"seed": 0}
    verified = {"genome": [1, 2], "measured_acc": 90.0, "correct_b64": "x", "abs_error": 1.0}
    (donor / "verify.json").write_text(json.dumps({
        **verified, "settings": settings, "winner_file": "winner.pt",
        "baselines": {"random": {**verified, "genome": [3, 4], "paired": {}}, "uniform_w8a8": {**verified, "genome": [5]}}}))
    (donor / "winner.pt").write_bytes(b"model")
    (run / "best.json").write_text(json.dumps({"genome": [1, 2], "predicted_acc": 91.0, "baselines": {
        "random": {"genome": [3, 4], "predicted_acc": 90.0}, "uniform_w8a8": {"genome": [6], "predicted_acc": 89.0}}}))
    bench.reuse_verified(run, (donor,))
    partial = json.loads((run / "verify.partial.json").read_text())
    assert partial["settings"] == settings and set(partial["results"]) == {"joint", "random"}
    assert "paired" not in partial["results"]["random"] and (run / "winner.pt").read_bytes() == b"model"
    bench.reuse_verified(run, (donor,))  # a run with a partial file is left alone
    assert json.loads((run / "verify.partial.json").read_text()) == partial


def test_headroom_measures_the_best_architecture_each_uniform_width_can_afford(smoke_upstream, tmp_path):
    from tests.helpers.roots import copy_upstream

    copy_upstream(smoke_upstream, tmp_path)
    limit = bench.budget_limit("fpga", "mid")
    out = bench.headroom("fpga", limit, "smoke")
    assert list(out["levels"]) == ["w2a2", "w4a4", "w6a6", "w8a8"]  # narrowest first
    for level in out["levels"].values():
        assert level["latency_ms"] <= limit and 0 <= level["measured_fp32_val_acc"] <= 100
    assert out["ceiling_minus_w4a4"] == pytest.approx(
        out["levels"]["w2a2"]["measured_fp32_val_acc"] - out["levels"]["w4a4"]["measured_fp32_val_acc"])
