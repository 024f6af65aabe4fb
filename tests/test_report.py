"""docs/results.md is generated from results/bench/*.json: figures, targets, provenance, missing runs."""
import json

from apq.report import BENCHES, main, provenance_line, render, stamp
from tests.helpers.cli import PROJECT


def _search_case(space, target, median):
    rate = {"median": median, "min": median * 0.9, "max": median * 1.1, "runs": 9}
    return {"space": space, "target": target, "candidates_per_s": rate, "nsga2_candidates_per_s": rate}


def _write(folder, name, report):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(report))


def test_figures_targets_and_missing_benchmarks(tmp_path):
    bench = tmp_path / "bench"
    _write(bench, "search", {"cases": [_search_case("imagenet-apq", "bitfusion", 56512.0),
                                       _search_case("fmnist", "fpga", 41234.0)],
                             "torch_threads_while_searching": 1, "target_candidates_per_s": 50000,
                             "load_average_before": [3.5, 2.0, 1.0], "load_average_after": [3.9, 2.5, 1.2],
                             "cpu_count": 2,
                             "recorded": {"date": "2026-12-03 06:10 UTC", "commit": "abc123def456", "host": "vm",
                                          "cpus": 2, "load_average": [3.9, 2.5, 1.2], "command": "make bench-search"}})
    _write(bench, "fake_quant", {"threads": 2, "cases": [
        {"shape": [64, 48, 28, 28], "repeats": 9, "lsq_ms_median": 5.71, "composed_ms_median": 20.04,
         "torch_fused_ms_median": 22.5, "speedup_vs_composed": 3.51}], "created": "2026-12-02 21:00:00"})
    page = render(bench)
    search = page.split("## Search throughput")[1].split("## ")[0]
    assert "Measured 2026-12-03 06:10 UTC at commit `abc123def456` on host `vm` (2 CPUs, load average " \
           "3.90 / 2.50 / 1.20 after the run) by `make bench-search`." in search
    assert "| GA candidates per second, end to end, imagenet-apq / bitfusion, 1 torch thread (median of 9) | " \
           "56.5k/s (min 50.9k/s) (met) | >= 50.0k/s | `make bench-search` (`bench/search.py`) |" in search
    assert "41.2k/s (min 37.1k/s) (**missed**)" in search
    assert "3.50 / 2.00 / 1.00 / 3.90 / 2.50 / 1.20 on 2 CPUs" in search
    fake_quant = page.split("## Fake-quantization kernel")[1].split("## ")[0]
    assert "5.71 / 20.04 / 22.50 ms (x3.5 vs composed)" in fake_quant
    assert "Measured 2026-12-02 21:00:00 (no provenance stamp" in fake_quant
    for b in BENCHES:
        if b.name not in ("search", "fake_quant"):
            assert f"| not measured yet: run `make {b.make}` | - |" in page.split(f"## {b.title}\n")[1].split("## ")[0]
    assert "%" not in page.split("## Supernet\n")[1].split("## ")[0]  # no figure for a missing JSON


def test_search_throughput_against_another_commit(tmp_path):
    before = {"recorded": {"commit": "545470350010"},
              "candidates_per_s": {"imagenet-apq/bitfusion": _search_case("x", "y", 50000.0)["candidates_per_s"]}}
    _write(tmp_path, "search", {"cases": [_search_case("imagenet-apq", "bitfusion", 55000.0),
                                          _search_case("fmnist", "fpga", 41234.0)],
                                "torch_threads_while_searching": 1, "before": before})
    search = render(tmp_path).split("## Search throughput")[1].split("## ")[0]
    assert "imagenet-apq/bitfusion: this commit / commit `545470350010` (same host, run just before; median of 9, " \
           "min-max 45.0k-55.0k/s) | 55.0k/s / 50.0k/s = 1.10x |" in search
    assert "fmnist/fpga: this commit" not in search  # no earlier figure for that case


def test_a_json_without_a_field_asks_for_a_rerun(tmp_path):
    _write(tmp_path, "cost", {"throughput": [{"space": "fmnist"}]})
    section = render(tmp_path).split("## Hardware cost model")[1].split("## ")[0]
    assert "cost.json lacks a field this page reads (KeyError: 'target'); rerun `make bench-cost`" in section


def test_stamp_records_where_and_when(tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT)  # a git checkout: the commit is known
    path = tmp_path / "cost.json"
    path.write_text(json.dumps({"throughput": []}))
    assert main(["stamp", str(path), "--command", "make bench-cost"]) == 0
    recorded = json.loads(path.read_text())["recorded"]
    assert recorded["command"] == "make bench-cost" and recorded["cpus"] >= 1 and len(recorded["load_average"]) == 3
    assert len(recorded["commit"].removesuffix("+dirty")) == 12 and recorded["date"].endswith(" UTC")
    stamp(path, "again")
    assert json.loads(path.read_text())["throughput"] == []
    kept = {**json.loads(path.read_text()), "recipes_recorded": {**recorded, "command": "an earlier run"}}
    line = provenance_line(kept)
    assert "by `again`." in line and "Its recipes: measured" in line and "by `an earlier run`." in line


def test_committed_page_is_what_the_committed_json_makes(tmp_path):
    """Nobody edits docs/results.md by hand: regenerate it from results/bench/ and compare."""
    out = tmp_path / "results.md"
    assert main(["--bench-dir", str(PROJECT / "results" / "bench"), "--out", str(out)]) == 0
    assert (PROJECT / "docs" / "results.md").read_text() == out.read_text(), \
        "docs/results.md differs from what results/bench/*.json make: run `make report` and commit both"


#: Hand-made JSON of the slow benchmarks, in the shapes their scripts write (bench/*.py).
SLOW = {
    "supernet": {"default_recipe": "sandwich", "configured_default": "progressive",
                 "standalone_agreement": {"4.2 vs 2.1 epochs": 0.47}, "recipes": {
        "progressive": {"train_seconds": 1190.0, "rank_tau": 0.6, "standalone_epochs": 4.2, "subnets": [{}] * 6,
                        "rank_tau_by_reference": {"4.2 epochs": 0.6, "2.1 epochs": None},
                        "smallest": {"supernet_acc": 88.1, "standalone_acc": 90.5},
                        "middle": {"supernet_acc": 89.0, "standalone_acc": 91.0},
                        "largest": {"supernet_acc": 91.0, "standalone_acc": 91.5}},
        "sandwich": {"train_seconds": 1210.0, "rank_tau": 0.87, "standalone_epochs": 2.1, "subnets": [{}] * 6,
                     "smallest": {"supernet_acc": 89.62, "standalone_acc": 89.0},
                     "middle": {"supernet_acc": 90.0, "standalone_acc": 90.1},
                     "largest": {"supernet_acc": 92.12, "standalone_acc": 92.4}}},
        "finetuned_winner": {"arch": "k3m32", "acc": 92.5, "standalone_acc": 92.0, "acc_before": 90.3,
                             "teacher": "largest", "standalone_epochs": 8.4, "finetune_epochs": 2.0,
                             "vs_standalone": {"diff": 0.5, "ci95": [0.1, 0.9], "p_mcnemar": 0.01},
                             "by_teacher": {"largest": {"acc": 92.5}, "subnet": {"acc": 92.2}},
                             "teachers": {"largest_minus_subnet": {"diff": 0.3, "ci95": [-0.1, 0.7],
                                                                   "p_mcnemar": 0.2}}}},
    "samples": {"targets": {"eval_noise_std_max": 0.3, "spread_over_noise_min": 5},
                "fp32": {"subnets": 20, "eval_noise_std": 0.21, "accuracy_spread_std": 0.7, "spread_over_noise": 3.33,
                         "samples_per_minute": 95.2, "workers": 2},
                "quant": {"subnets": 20, "eval_noise_std": 0.35, "accuracy_spread_std": 0.68,
                          "spread_over_noise": 1.94, "samples_per_minute": 20.1, "workers": 2},
                "estimated_stage_minutes": 18.0, "drop_by_bits": {"w4a4": {"mean": 1.2, "min": 0.4, "max": 2.0,
                                                                           "subnets": 6}}},
    "quant": {"w4a4": {"after_20_steps": {
        "per_channel_learned": {"mean_acc": 88.1, "minus_default_mean": 0.0, "minus_default_std": 0.0,
                                "default_wins": 0, "subnets": 8},
        "per_tensor_fixed": {"mean_acc": 80.0, "minus_default_mean": -8.1, "minus_default_std": 1.5,
                             "default_wins": 8, "subnets": 8}}},
              "finetune_length": {"250": {"kendall_tau": 0.9, "pairwise_acc": 0.95, "mean_acc": 90.0,
                                          "minus_reference_mean": -0.06, "minus_reference_std": 0.16,
                                          "cpu_seconds_per_sample": 20.5},
                                  "reference": {"steps": 300, "mean_acc": 90.1}}},
    "search_quality": {"cases": [
        {"target": "fpga", "budget": "tight", "latency_limit_ms": 1.729, "seeds": [0, 1, 2], "k": 4,
         "vs": {"best_uniform": {"margin": 0.8, "ci95": [0.3, 1.3], "p": 0.004},
                "sequential": {"margin": 1.5, "ci95": [0.9, 2.1], "p": 0.0001}},
         "winners_curse": {"joint": {"before": 0.95, "after": 0.12, "after_predictor": 0.9},
                           "random": {"before": 0.3, "after": -0.1, "after_predictor": 0.2}},
         "by_k": {"1": {"joint": 90.1, "best_uniform": 89.5}, "4": {"joint": 90.4, "best_uniform": 89.6}},
         "shortlist_curse": {"joint": {"mean": 2.82, "n": 40}, "uniform_w4a4": {"mean": 0.39, "n": 24}},
         "headroom": {"levels": {"w2a2": {"measured_fp32_val_acc": 91.2}, "w4a4": {"measured_fp32_val_acc": 90.6}},
                      "ceiling_minus_w4a4": 0.6}},
        {"target": "fpga", "budget": "loose", "latency_limit_ms": 3.1, "seeds": [0, 1, 2], "k": 4,
         "vs": {"random": {"margin": -0.9, "ci95": [-1.5, -0.3], "p": 0.01}}, "winners_curse": {}, "by_k": {}},
        {"target": "bitfusion", "budget": "loose", "latency_limit_ms": 0.74, "seeds": [0], "error": "verify failed"}]},
    "sensitivity": {"scan": {"base_acc": 91.5, "images": 2000, "seconds": 240.0,
                             "drop": [[[30.0, 1.0, 0.2, 0.0], [5.0, 0.5, 0.1, 0.0], [2.0, 0.2, 0.0, 0.0],
                                       [4.0, 0.3, 0.1, 0.0]],
                                      [[50.0, 2.0, 0.4, 0.0], [7.0, 0.7, 0.3, 0.0], [4.0, 0.4, 0.0, 0.0],
                                       [6.0, 0.5, 0.1, 0.0]]]},
                    "cross_validation": {"structured_linear": {"pairwise_acc": 0.8, "pairwise_acc_cost_matched": 0.75,
                                                              "score": 0.775}},
                    "test": {"structured_linear": {"pairwise_acc": 0.81, "pairwise_acc_ci": [0.77, 0.85],
                                                   "pairwise_acc_cost_matched": 0.77},
                             "prior_only": {"pairwise_acc": 0.7, "pairwise_acc_cost_matched": 0.6}},
                    "paired": {"structured_prior_minus_structured_linear": {
                        "pairwise_acc": 0.03, "pairwise_acc_ci": [-0.01, 0.07], "pairwise_acc_cost_matched": 0.05,
                        "pairwise_acc_cost_matched_ci": [0.0, 0.1]}},
                    "budget_curve": [{"n_train": 25, "structured_linear": {"pairwise_acc": 0.7},
                                      "structured_prior": {"pairwise_acc": 0.78},
                                      "prior_minus_linear": {"pairwise_acc": 0.08, "pairwise_acc_ci": [0.03, 0.13]}}],
                    "n_test": 103},
    "pipeline": {"preset": "default", "seconds": {"supernet": 827.0, "data": 1.2},
                 "reference": {"seconds": 25.0, "steps": 300, "eval_images": 8192},
                 "in_reference_units": {"supernet": 33.08, "data": 0.05},
                 "make_search_bitfusion_parts": {"ga_search_s": 12.5, "rerank_s": 30.0, "verify_winner_s": 15.0,
                                                 "startup_checks_lut_loading_s": 3.7},
                 "targets": {"pipeline_fpga_s": {"seconds": 1938.0, "limit_s": 3600.0, "pass": True, "applies": True,
                                                 "what": "fresh root to a verified make search"},
                             "make_search_bitfusion_s": {"seconds": 31.2, "limit_s": 30.0, "pass": False,
                                                         "applies": True, "what": "second make search"}},
                 "winners": {"fpga": {"predicted_acc": 91.61, "measured_acc": 90.46}}, "error": None},
}


def test_a_pipeline_on_a_kept_root_says_why_its_target_does_not_apply(tmp_path):
    report = json.loads(json.dumps(SLOW["pipeline"]))
    report["fresh_root"] = False
    report["targets"]["pipeline_fpga_s"].update(applies=False, seconds=95.0)
    _write(tmp_path, "pipeline_kept_root", report)
    section = render(tmp_path).split("## Second search on a kept root")[1].split("## ")[0]
    assert "| fresh root to a verified make search (a kept root, not a fresh one: target does not apply) | 95 s |" \
        in section
    assert "| second make search | 31 s (**missed**) | <= 30 s |" in section


def test_fine_tune_variants_render_against_the_configured_run(tmp_path):
    winner = {k: v for k, v in SLOW["supernet"]["finetuned_winner"].items() if k not in ("by_teacher", "teachers")}
    winner.update(variant="teacher largest, 2 epochs, lr 0.003", variants={
        "teacher largest, 2 epochs, lr 0.003": {"acc": 92.5},
        "teacher largest, 5 epochs, lr 0.0001": {"acc": 92.3, "minus_chosen": {
            "diff": -0.2, "ci95": [-0.4, 0.0], "p_mcnemar": 0.04}}})
    _write(tmp_path, "supernet", {**SLOW["supernet"], "finetuned_winner": winner})
    page = render(tmp_path)
    assert "fine-tune teacher largest, 5 epochs, lr 0.0001 minus teacher largest, 2 epochs, lr 0.003, test top-1 | " \
           "92.30 % vs 92.50 %; -0.20 points [-0.40, +0.00], McNemar p = 0.04 |" in page
    assert "largest network minus" not in page


def test_every_slow_benchmark_renders_its_figures(tmp_path):
    for name, report in SLOW.items():
        _write(tmp_path, name, report)
    variant = {**SLOW["search_quality"], "settings": ["search.rerank_bit_floors=4"], "tag": "floor4"}
    variant["cases"] = [{**variant["cases"][0], "vs": {**variant["cases"][0]["vs"], "joint_untagged": {
        "margin": -0.16, "ci95": [-0.55, 0.0], "p": 0.015}}}]
    _write(tmp_path, "search_quality_floor4", variant)
    page = render(tmp_path)
    assert "lacks a field" not in page
    for expected in ("recipe picked (higher rank tau, then accuracy) / configured default | sandwich / progressive |",
                     "sandwich (picked): training time | 1210 s (**missed**) | <= 1200 s",
                     "sandwich (picked): largest / smallest sub-net inside the supernet, test top-1 | "
                     "92.12 % / 89.62 % (met) | >= 92.0 / 89.0",
                     "trained alone for 2.1 epochs (6 sub-nets) | 0.87 (met) | >= 0.8",
                     "89.62 vs 89.00 (+0.62) / 90.00 vs 90.10 (-0.10) / 92.12 vs 92.40 (-0.28) (met)",
                     "progressive: training time | 1190 s | reported |",
                     "progressive: Kendall tau against each recipe's stand-alone training | 4.2 epochs 0.60, "
                     "2.1 epochs undefined |",
                     "Kendall tau of the stand-alone accuracies, 4.2 vs 2.1 epochs | 0.47 |",
                     "92.50 % vs 92.00 % (before fine-tuning 90.30 %); +0.50 points [+0.10, +0.90], McNemar p = 0.01 (met) | >= trained alone",
                     "fine-tuned quantized winner (2.0 epochs, teacher largest)",
                     "92.50 % vs 92.20 %; +0.30 points [-0.10, +0.70], McNemar p = 0.2",
                     "0.35 points (**missed**) | <= 0.3", "0.70 points / 0.21 = 3.33x (**missed**)",
                     "per tensor fixed minus the default (8 sub-nets) | -8.10 +- 1.50 points; the default wins 8 of 8",
                     "fine-tune of 250 steps vs 300",
                     "fpga tight (1.729 ms, 3 seeds): joint minus best uniform, test top-1 (k = 4) | +0.80 points "
                     "[+0.30, +1.30], p = 0.004 (**missed**) | margin >= 1.0, p < 0.05",
                     "joint minus sequential, test top-1 (k = 4) | +1.50 points [+0.90, +2.10], p = 0.0001 (met)",
                     "+0.95 / +0.12 points (met) | abs. <= 1.0 after", "random +0.30 / -0.10",
                     "k=1: 90.10 %, 89.50 %; k=4: 90.40 %, 89.60 %",
                     "every re-ranked candidate (count) | joint +2.82 (40); uniform w4a4 +0.39 (24)",
                     "fits at each uniform width (w2a2, w4a4) | 91.20 / 90.60 %: narrowest minus W4A4 +0.60 points",
                     "joint minus random, test top-1 (k = 4) | -0.90 points [-1.50, -0.30], p = 0.01 (**missed**) "
                     "| not worse with p < 0.05",
                     "bitfusion loose (0.74 ms, 1 seeds) | failed: verify failed",
                     "variant settings (every search of the variant) | search.rerank_bit_floors=4 | reported",
                     "variant minus the default joint search, test top-1 (k = 4) | -0.16 points [-0.55, +0.00], "
                     "p = 0.015 | reported",
                     "fpga tight (1.729 ms, 3 seeds): variant's joint minus best uniform, test top-1 (k = 4) | +0.80 "
                     "points [+0.30, +1.30], p = 0.004 | reported",
                     "1938 s (met) | <= 3600 s", "31 s (**missed**) | <= 30 s", "91.61 / 90.46 %",
                     "8192 images evaluated; the host-speed unit below) | 25.0 s",
                     "stage supernet | 827.0 s = 33.1 reference units", "stage data | 1.2 s = 0.1 reference units",
                     "start-up, checks, loading | 12.5 s / 30.0 s / 15.0 s / 3.7 s",
                     "2000 validation images | 91.50 % in 240 s",
                     "by gene | pw_w 40.00 / 50.00; pw_a 6.00 / 7.00; dw_w 3.00 / 4.00; dw_a 5.00 / 6.00 points",
                     "`structured_linear` pairwise / cost-matched pairwise, 103 held-out quantized samples | 0.81 "
                     "[0.77, 0.85] / 0.77; cross-validated on the pool 0.80 / 0.75",
                     "`prior_only` pairwise / cost-matched pairwise, 103 held-out quantized samples | 0.70 / 0.60 |",
                     "structured_prior minus structured_linear (paired on the same resamples): pairwise / "
                     "cost-matched pairwise | +0.03 [-0.01, +0.07] / +0.05 [+0.00, +0.10]",
                     "25 quantized training samples (seed mean): linear drop pairwise, constant start vs prior | "
                     "0.70 vs 0.78; +0.08 [+0.03, +0.13]"):
        assert expected in page, expected


def test_a_retest_ceiling_is_judged_instead_of_the_split_half_upper_bound(tmp_path):
    report = json.loads((PROJECT / "results" / "bench" / "predictor.json").read_text())
    quant = report["label_reliability"]["quant"]["accuracy"]
    quant.pop("retest", None)
    _write(tmp_path, "predictor", report)
    assert "split halves (upper bound: one evaluation's random draws count as signal) | 0.97 (met) | >= 0.9" \
        in render(tmp_path)
    quant["retest"] = {"n_retest": 30, "realization_noise_std": 0.61, "image_noise_std": 0.33,
                       "perfect_predictor_pairwise": 0.89, "perfect_predictor_pairwise_ci": [0.86, 0.92]}
    _write(tmp_path, "predictor", report)
    page = render(tmp_path)
    assert "split halves (upper bound: one evaluation's random draws count as signal) | 0.97 | reported |" in page
    assert ("quant accuracy labels: perfect predictor pairwise, with the noise of 30 re-measured samples "
            "(realization noise 0.61, images 0.33 points) | 0.89 [0.86, 0.92] (**missed**) | >= 0.9") in page
