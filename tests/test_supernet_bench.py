"""bench/supernet.py: finetuned_winner (fine-tuned runs beside their cached stand-alone accuracy) and the
stand-alone cache key."""
import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from apq.space.genome import sample
from apq.verify.stats import pack_correct
from tests.helpers.cli import PROJECT

spec = importlib.util.spec_from_file_location("supernet_bench", PROJECT / "bench" / "supernet.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _args(cache_file):
    return argparse.Namespace(preset="smoke", settings=[], epochs=None, data_dir=None, cache=str(cache_file))


def _finetuned_run(path, genome, teacher, acc_after, arch="a"):
    path.mkdir()
    (path / "finetune.json").write_text(json.dumps({"genome": genome.tolist(), "acc_after": acc_after,
                                                    "acc_before": 90.2, "arch": arch, "teacher": teacher,
                                                    "epochs": 2.0, "model_file": "finetuned.pt"}))
    return path


def test_finetuned_winner_pairs_the_configured_teacher_with_its_cached_standalone(fmnist, tmp_path, monkeypatch):
    genome = sample(fmnist, 1, np.random.default_rng(0))[0]
    runs = [_finetuned_run(tmp_path / "sub", genome, "subnet", 91.0), _finetuned_run(tmp_path / "big", genome,
                                                                                      "largest", 91.5)]
    args = _args(tmp_path / "cache.json")
    context = bench.RecipeContext(fmnist, "progressive", args)
    cache = bench.StandaloneCache(tmp_path / "cache.json")
    key = cache.key(bench.genome_string(fmnist, genome), context.epochs, context.settings)
    alone = np.arange(8) < 6  # right on 6 of 8 test images
    cache.put(key, {"standalone_acc": 92.25, "seconds": 1.0, "test_images": 8, "correct_b64": pack_correct(alone)})
    by_model = {"big": np.ones(8, bool), "sub": np.arange(8) < 4}
    monkeypatch.setattr(bench, "finetuned_correct", lambda path, context, device: by_model[path.parent.name])
    monkeypatch.setattr(bench, "load_training_data", lambda *a: pytest.fail("a cache hit needs no training"))
    out = bench.finetuned_winner(fmnist, runs, args, bench.StandaloneCache(tmp_path / "cache.json"),
                                 torch.device("cpu"))
    assert out["teacher"] == "largest"  # the configured teacher's run, not the first given
    assert out["acc"] == 91.5 and out["standalone_acc"] == 92.25 and out["acc_before"] == 90.2
    variants = out["variants"]
    assert {v: x["acc"] for v, x in variants.items()} == {"teacher largest, 2 epochs": 91.5, "teacher subnet, 2 epochs": 91.0}
    assert out["vs_standalone"]["discordant"] == [2, 0] and out["vs_standalone"]["diff"] == pytest.approx(25.0)
    assert variants["teacher subnet, 2 epochs"]["minus_chosen"]["discordant"] == [0, 4]
    assert "minus_chosen" not in variants["teacher largest, 2 epochs"]


def test_finetuned_winner_chooses_the_run_of_the_configured_settings(fmnist, tmp_path, monkeypatch):
    """The run of the smoke preset's teacher, epochs and learning rate, though given second."""
    configured = bench.preset_config("smoke").finetune
    assert (configured.teacher, configured.epochs) == ("largest", 1.0)
    genome = sample(fmnist, 1, np.random.default_rng(0))[0]
    runs = []
    for name, lr, acc in (("fast", configured.lr * 10, 92.0), ("default", configured.lr, 91.5)):
        runs.append(_finetuned_run(tmp_path / name, genome, "largest", acc))
        report = json.loads((runs[-1] / "finetune.json").read_text())
        report.update(epochs=1.0, settings={"finetune": {"teacher": "largest", "epochs": 1.0, "lr": lr}})
        (runs[-1] / "finetune.json").write_text(json.dumps(report))
    args = _args(tmp_path / "cache.json")
    cache = bench.StandaloneCache(tmp_path / "cache.json")
    context = bench.RecipeContext(fmnist, "progressive", args)
    cache.put(cache.key(bench.genome_string(fmnist, genome), context.epochs, context.settings),
              {"standalone_acc": 92.25, "seconds": 1.0})
    monkeypatch.setattr(bench, "finetuned_correct", lambda path, context, device: np.ones(8, bool))
    out = bench.finetuned_winner(fmnist, runs, args, cache, torch.device("cpu"))
    assert out["variant"] == f"teacher largest, 1 epoch, lr {configured.lr:g}" and out["acc"] == 91.5
    assert out["variants"][f"teacher largest, 1 epoch, lr {configured.lr * 10:g}"]["minus_chosen"]["diff"] == 0.0
    with pytest.raises(SystemExit, match="fine-tuned alike"):
        bench.finetuned_winner(fmnist, [runs[0], runs[0]], args, cache, torch.device("cpu"))


def test_finetuned_winner_needs_finetuned_runs_of_one_winner(fmnist, tmp_path):
    cache = bench.StandaloneCache(tmp_path / "c.json")
    with pytest.raises(SystemExit, match="apq finetune"):
        bench.finetuned_winner(fmnist, [tmp_path], _args(tmp_path / "c.json"), cache, torch.device("cpu"))
    genome = sample(fmnist, 1, np.random.default_rng(0))[0]
    runs = [_finetuned_run(tmp_path / "one", genome, "largest", 91.0, "a"),
            _finetuned_run(tmp_path / "two", genome, "subnet", 91.0, "b")]
    with pytest.raises(SystemExit, match="different winners"):
        bench.finetuned_winner(fmnist, runs, _args(tmp_path / "c.json"), cache, torch.device("cpu"))


def test_standalone_key_holds_only_what_standalone_training_reads(fmnist, tmp_path):
    """Recipes that train stand-alone nets alike share cached results at equal epochs; a setting
    stand-alone training reads keeps them apart."""
    def key(recipe, *settings):
        args = _args(tmp_path / "c.json")
        args.settings, args.epochs = list(settings), 3.0
        context = bench.RecipeContext(fmnist, recipe, args)
        return bench.StandaloneCache.key("arch", context.epochs, context.settings)

    assert key("progressive") == key("sandwich") == key("progressive", "supernet.epochs_full=9")
    assert key("progressive") != key("progressive", "supernet.lr_full=0.2")


def test_a_variant_names_its_learning_rate_distillation_weight_and_updated_bn_statistics():
    report = {"teacher": "largest", "epochs": 2.0,
              "settings": {"finetune": {"lr": 0.003}, "quant": {"freeze_bn": False}}}
    assert bench.variant(report) == "teacher largest, 2 epochs, lr 0.003, BN statistics updated"
    report["settings"]["quant"]["freeze_bn"] = True
    assert bench.variant(report) == "teacher largest, 2 epochs, lr 0.003"
    assert bench.variant({"teacher": "subnet", "epochs": 1.0}) == "teacher subnet, 1 epoch"
    report["settings"]["finetune"]["kd_weight"] = 1.0
    assert bench.variant(report) == "teacher largest, 2 epochs, lr 0.003"
    report["settings"]["finetune"]["kd_weight"] = 0.0
    assert bench.variant(report) == "teacher largest, 2 epochs, lr 0.003, kd weight 0"
    report["settings"]["finetune"] = {"lr": 0.003, "freeze_bn": False}
    assert bench.variant(report) == "teacher largest, 2 epochs, lr 0.003, BN statistics updated"


def test_the_chosen_fine_tune_run_is_the_one_with_the_configured_settings_bn_included():
    from apq.finetune.config import get_finetune_config
    configured = get_finetune_config("default")

    def run(name, **finetune):
        return Path(name), {"teacher": "largest", "epochs": 2.0, "settings": {"finetune": {
            "teacher": "largest", "epochs": configured.epochs, "lr": configured.lr, **finetune}}}
    frozen, updated = run("frozen", freeze_bn=True), run("updated", freeze_bn=configured.freeze_bn)
    assert bench.chosen_run([frozen, updated], configured)[0].name == "updated"
    legacy_frozen, legacy_updated = run("legacy frozen"), run("legacy updated")  # before finetune.freeze_bn
    legacy_updated[1]["settings"]["quant"] = {"freeze_bn": False}
    assert bench.chosen_run([legacy_frozen, legacy_updated], configured)[0].name == "legacy updated"
    assert bench.chosen_run([legacy_frozen], configured)[0].name == "legacy frozen"


def _recipe(epochs, inherited, alone, archs=("a", "b", "c", "d")):
    rows = [{"arch": a, "supernet_acc": s, "standalone_acc": x} for a, s, x in zip(archs, inherited, alone)]
    named = {n: {"supernet_acc": rows[i]["supernet_acc"], "standalone_acc": rows[i]["standalone_acc"]}
             for i, n in enumerate(bench.NAMED)}
    tau = bench._tau(inherited, alone)
    return {**named, "rank_tau": tau, "standalone_epochs": epochs, "subnets": rows}


def test_cross_references_judge_every_recipe_against_every_reference():
    """The same order inside both supernets: each recipe's own tau differs only through its reference,
    and scored against both references the recipes tie, so accuracy decides."""
    short = [90.0, 91.0, 92.0, 93.0]  # stand-alone after few epochs
    long_ = [91.0, 90.5, 93.0, 92.5]  # after many: two pairs swapped
    recipes = {"progressive": _recipe(8.4, [89.0, 90.0, 91.0, 92.0], long_),
               "sandwich": _recipe(3.2, [88.0, 89.0, 90.0, 91.0], short)}
    assert recipes["sandwich"]["rank_tau"] > recipes["progressive"]["rank_tau"]
    agreement = bench.cross_references(recipes)
    assert agreement == {"8.4 vs 3.2 epochs": bench._tau(long_, short)}
    assert recipes["progressive"]["rank_tau_by_reference"] == recipes["sandwich"]["rank_tau_by_reference"] == {
        "8.4 epochs": recipes["progressive"]["rank_tau"], "3.2 epochs": 1.0}
    assert bench.better_recipe(recipes) == "progressive"  # tie on agreement, higher inherited accuracy


def test_better_recipe_without_cross_references_uses_each_recipes_own_tau():
    recipes = {"progressive": _recipe(8.4, [89.0, 90.0, 91.0, 92.0], [91.0, 90.5, 93.0, 92.5]),
               "sandwich": _recipe(3.2, [88.0, 89.0, 90.0, 91.0], [90.0, 91.0, 92.0, 93.0])}
    assert bench.better_recipe(recipes) == "sandwich"
    recipes["sandwich"]["rank_tau"] = None  # undefined tau never wins
    assert bench.better_recipe(recipes) == "progressive"
