"""bench/supernet.py's finetuned_winner: a finetuned run beside its cached stand-alone accuracy."""
import argparse
import importlib.util
import json

import numpy as np
import pytest
import torch

from apq.space.genome import sample
from tests.helpers.cli import PROJECT

spec = importlib.util.spec_from_file_location("supernet_bench", PROJECT / "bench" / "supernet.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _args(cache_file):
    return argparse.Namespace(preset="smoke", settings=[], epochs=None, data_dir=None, cache=str(cache_file))


def test_finetuned_winner_pairs_the_run_with_its_cached_standalone(fmnist, tmp_path, monkeypatch):
    genome = sample(fmnist, 1, np.random.default_rng(0))[0]
    run = tmp_path / "run"
    run.mkdir()
    (run / "finetune.json").write_text(json.dumps({"genome": genome.tolist(), "acc_after": 91.5, "acc_before": 90.2,
                                                   "arch": "a", "teacher": "largest", "epochs": 2.0}))
    args = _args(tmp_path / "cache.json")
    context = bench.RecipeContext(fmnist, "progressive", args)
    cache = bench.StandaloneCache(tmp_path / "cache.json")
    key = cache.key(bench.genome_string(fmnist, genome), context.epochs, context.settings)
    cache.put(key, {"standalone_acc": 92.25, "seconds": 1.0})
    monkeypatch.setattr(bench, "load_training_data", lambda *a: pytest.fail("a cache hit needs no data"))
    out = bench.finetuned_winner(fmnist, run, "progressive", args, bench.StandaloneCache(tmp_path / "cache.json"),
                                 torch.device("cpu"))
    assert out["acc"] == 91.5 and out["standalone_acc"] == 92.25 and out["acc_before"] == 90.2


def test_finetuned_winner_needs_a_finetuned_run(fmnist, tmp_path):
    with pytest.raises(SystemExit, match="apq finetune"):
        bench.finetuned_winner(fmnist, tmp_path, "progressive", _args(tmp_path / "c.json"),
                               bench.StandaloneCache(tmp_path / "c.json"), torch.device("cpu"))


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
