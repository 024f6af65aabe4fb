"""Supernet benchmark: each training recipe's weight-shared sub-nets vs the same nets trained alone.

    .venv/bin/python bench/supernet.py [--space fmnist] [--preset default] [--recipes progressive sandwich]
        [--train [--work DIR]] [--supernet RECIPE=PATH ...] [--subnets 6] [--epochs E] [--cache FILE]
        [--set section.field=value ...] [--data-dir D] [--finetuned RUN_DIR ...] [--keep-recipes]

For every recipe (``supernet.recipe``) it needs that recipe's supernet: ``--supernet RECIPE=PATH``
takes an existing file; ``--train`` trains it (or finds it trained) in its own APQ_ROOT,
``<work>/<recipe>`` (default work folder ``results/bench/supernet_roots``); otherwise
``data/<space>/supernet.pt`` is taken when it was made with that recipe. Over ``--subnets`` sub-nets
(>= 6: the smallest, a middle one (middle choice of every gene), the largest and seeded random
ones spread over the parameter-count range) it measures the test accuracy inside the supernet
(after BN re-calibration) and after training the same architecture alone, randomly initialised,
with the supernet's ``full``-phase recipe for ``--epochs`` (default: that recipe's total epochs),
and Kendall's tau between the two. Stand-alone results (minutes each) are cached by genome, epochs
and settings in ``--cache`` (default ``results/bench/supernet_standalone.json``), so reruns reuse
them. Writes ``results/bench/supernet.json``: ``recipes.<recipe>`` = {``largest``, ``middle``,
``smallest``: {``supernet_acc``, ``standalone_acc``}, ``rank_tau``, ``train_seconds``,
``rank_tau_by_reference`` (its inherited accuracies against every recipe's stand-alone epochs),
``subnets``}, ``standalone_agreement`` (tau of the stand-alone results at one recipe's epochs against
another's), and ``default_recipe``: the recipe with the higher tau (two decimals; the mean over the
references), then the higher mean supernet accuracy of the three named sub-nets. With ``--finetuned RUN_DIR`` (a run
after ``apq finetune``; repeat it with one run per setting (teacher, epochs, learning rate) of the
same winner) also ``finetuned_winner`` = {``acc``, ``standalone_acc``, ``variants``}: the fine-tuned
quantized winner's test accuracy (the run of the configured settings) beside its architecture
trained alone in fp32 (the configured recipe's settings and epochs), and each other run paired
against it on the same test images. ``--keep-recipes`` keeps the recipes of the existing
``--out`` file (and their stamp, as ``recipes_recorded``) and only adds ``finetuned_winner``.
Hours on the default preset here.
"""
from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from apq.config import apply_settings, preset_config
from apq.finetune.config import FinetuneConfig
from apq.io import project_root, write_json
from apq.nn.runtime import pick_device
from apq.predictor.metrics import kendall_tau
from apq.quant.winner import load_winner
from apq.report import bench_arguments
from apq.space.genome import sample
from apq.space.registry import create_space
from apq.space.spec import genome_string
from apq.stages.fresh import canonical, digest
from apq.supernet.bn_calibration import calibrate_bn
from apq.supernet.build import load_training_data, train_supernet
from apq.supernet.checkpoint import load_supernet, supernet_path
from apq.supernet.config import RECIPES
from apq.supernet.evaluate import evaluate, evaluate_subnet, prepare
from apq.supernet.network import Supernet
from apq.supernet.train import train_standalone, training_threads
from apq.verify.stats import pack_correct, paired_comparison, unpack_correct

NAMED = ("smallest", "middle", "largest")
#: The supernet settings a stand-alone training and its evaluation read (train_standalone's
#: ``full``-phase recipe, the data subsets, BN re-calibration, evaluation): its cache key holds these
#: and no others, so recipes that share them share their stand-alone results at equal epochs.
STANDALONE_SETTINGS = ("batch_size", "lr_full", "warmup_steps", "momentum", "weight_decay", "label_smoothing",
                       "flip", "crop_pad", "max_steps_per_phase", "bn_calib_images", "bn_calib_batch", "eval_batch",
                       "train_subset", "test_subset", "channels_last")


def middle_genome(net: Supernet) -> np.ndarray:
    """The middle choice index of every depth, kernel and channel gene."""
    genome = net.largest_genome()
    for gene in ("depth", "kernel", "mid"):
        cols = net.space.slices[gene]
        genome[cols] = net.space.cardinality[cols] // 2
    return genome


def parameter_count(net: Supernet, genome: np.ndarray) -> int:
    return sum(p.numel() for p in net.extract(genome).parameters())


def subnet_genomes(net: Supernet, count: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """(name, genome): smallest, middle, largest, then ``count - 3`` seeded random genomes at evenly
    spaced quantiles of the parameter count of 100 random ones (so they span the cost range)."""
    named = [("smallest", net.smallest_genome()), ("middle", middle_genome(net)), ("largest", net.largest_genome())]
    extra = max(0, count - len(named))
    if not extra:
        return named
    pool = sample(net.space, 100, np.random.default_rng(seed))
    order = np.argsort([parameter_count(net, g) for g in pool])
    picks = order[np.linspace(0, len(pool) - 1, extra + 2).round().astype(int)[1:-1]]
    return named + [(f"random{i}", pool[j]) for i, j in enumerate(picks)]


@contextmanager
def project(root: Path | None):
    """APQ_ROOT set to ``root`` for the block (None: unchanged)."""
    before = os.environ.get("APQ_ROOT")
    if root is not None:
        os.environ["APQ_ROOT"] = str(root)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("APQ_ROOT", None)
        else:
            os.environ["APQ_ROOT"] = before


def recipe_supernet(space, recipe: str, run_config, args) -> Path:
    """The supernet file of ``recipe``: given, trained in its own APQ_ROOT, or the project's when it has that recipe."""
    if recipe in args.given:
        return Path(args.given[recipe])
    if args.train:
        root = Path(args.work) / recipe
        root.mkdir(parents=True, exist_ok=True)
        with project(root):
            return train_supernet(space, run_config.preset, run_config.supernet, args.data_dir).resolve()
    path = supernet_path(space.name)
    if not path.exists():
        raise SystemExit(f"no supernet for recipe '{recipe}': pass --train or --supernet {recipe}=PATH")
    return path


class StandaloneCache:
    """Stand-alone test accuracies in a JSON file, keyed by genome, epochs and the settings that train them."""

    def __init__(self, path: Path):
        self.path = path
        self.entries = json.loads(path.read_text()) if path.exists() else {}

    @staticmethod
    def key(arch: str, epochs: float, settings: dict) -> str:
        return canonical({"arch": arch, "epochs": epochs, "settings": settings})

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, value: dict) -> None:
        self.entries[key] = value
        write_json(self.path, self.entries)


def standalone(space, genome, data, test, calib, config, epochs: float, seed: int, device, desc: str) -> dict:
    """Test accuracy of ``genome`` trained alone from a seeded random init for ``epochs``."""
    torch.manual_seed(seed)
    net = Supernet(space).extract(genome).to(device)
    if config.channels_last:
        net = net.to(memory_format=torch.channels_last)
    seconds = train_standalone(net, data, config, epochs, seed, device, desc=desc)
    calibrate_bn(net, prepare(calib, device, config.channels_last), config.bn_calib_batch)
    result = evaluate(net, *test, config.eval_batch, config.channels_last)
    return {"standalone_acc": round(result.accuracy, 3), "seconds": round(seconds, 1),
            "test_images": int(result.count), "correct_b64": pack_correct(result.correct)}


class RecipeContext:
    """What training a recipe's stand-alone sub-nets needs: its settings, data, epochs and cache key part."""

    def __init__(self, space, recipe: str, args):
        self.space, self.data_dir = space, args.data_dir
        self.run_config = apply_settings(preset_config(args.preset), [*args.settings, f"supernet.recipe={recipe}"])
        self.config, self.seed = self.run_config.supernet, self.run_config.preset.seed
        self.epochs = args.epochs if args.epochs is not None else sum(self.config.phase_epochs)
        trained_with = {k: v for k, v in self.config.to_dict().items() if k in STANDALONE_SETTINGS}
        self.settings = {"supernet": trained_with, "seed": self.seed, "preset": self.run_config.preset.to_dict()}

    @cached_property
    def splits(self) -> tuple:
        """(training data, test split, calibration images), loaded when first needed."""
        return load_training_data(self.space, self.run_config.preset, self.config, self.data_dir)

    def standalone(self, genome: np.ndarray, cache: "StandaloneCache", device, desc: str) -> dict:
        """The cached stand-alone result of ``genome`` under this recipe, trained (minutes) when missing."""
        key = cache.key(genome_string(self.space, genome), self.epochs, self.settings)
        alone = cache.get(key)
        if alone is None:
            alone = standalone(self.space, genome, *self.splits, self.config, self.epochs, self.seed, device, desc)
            cache.put(key, alone)
        return alone


def bench_recipe(space, recipe: str, args, cache: StandaloneCache, device) -> dict:
    context = RecipeContext(space, recipe, args)
    config, epochs = context.config, context.epochs
    _, test, calib = context.splits
    path = recipe_supernet(space, recipe, context.run_config, args)
    supernet, meta = load_supernet(space, path, device)
    if meta["supernet_config"].get("recipe", "progressive") != recipe:
        raise SystemExit(f"{path} was trained with recipe '{meta['supernet_config'].get('recipe')}', not '{recipe}'")
    if config.channels_last:
        supernet = supernet.to(memory_format=torch.channels_last)
    rows = []
    for name, genome in subnet_genomes(supernet, args.subnets, context.seed):
        arch = genome_string(space, genome)
        shared = evaluate_subnet(supernet, genome, calib, *test, config.bn_calib_batch, config.eval_batch,
                                 config.channels_last)
        alone = context.standalone(genome, cache, device, f"{recipe} {name}")
        rows.append({"subnet": name, "arch": arch, "genome": genome.tolist(), "params": parameter_count(supernet, genome),
                     "supernet_acc": round(shared.accuracy, 3), **alone, "standalone_epochs": epochs})
        print(f"{recipe:>11} {name:>8}: supernet {shared.accuracy:6.2f}%  alone ({epochs:g} epochs) "
              f"{alone['standalone_acc']:6.2f}%  {rows[-1]['params']:,} params", flush=True)
    tau = _tau([r["supernet_acc"] for r in rows], [r["standalone_acc"] for r in rows])
    report_file = path.with_suffix(".json")
    trained = json.loads(report_file.read_text()) if report_file.exists() else {}
    out = {name: {k: row[k] for k in ("supernet_acc", "standalone_acc")} for row in rows for name in NAMED
           if row["subnet"] == name}
    return {**out, "rank_tau": tau, "train_seconds": trained.get("train_seconds"),
            "epochs": sum(config.phase_epochs), "standalone_epochs": epochs, "supernet": str(path),
            "supernet_digest": digest(path), "supernet_json": trained or None, "subnets": rows}


def finetuned_winner(space, run_dirs: list[Path], args, cache: StandaloneCache, device) -> dict:
    """``apq finetune``'s results (finetune.json, and finetuned.pt evaluated again on the test split
    for per-image correctness) in ``run_dirs`` (one winner fine-tuned with other teachers, epochs or
    learning rates, one run each) beside the same architecture trained alone in fp32 with the
    configured recipe for its epochs: {``acc`` (the run of the configured settings, else of the
    configured teacher, else the first), ``standalone_acc``, ``vs_standalone`` (paired:
    :func:`apq.verify.stats.paired_comparison`), ``variants`` (per run, by :func:`variant`: its
    accuracies and ``minus_chosen``, paired against the chosen run), ...}."""
    reports = []
    for run_dir in run_dirs:
        report_file = run_dir / "finetune.json"
        if not report_file.is_file():
            raise SystemExit(f"{run_dir} has no finetune.json; run 'apq finetune {run_dir}' first")
        reports.append((run_dir, json.loads(report_file.read_text())))
    if len({r["arch"] for _, r in reports}) > 1:
        raise SystemExit("the --finetuned runs hold different winners; pass runs of one winner")
    if len({variant(r) for _, r in reports}) < len(reports):
        raise SystemExit("two --finetuned runs were fine-tuned alike; pass one run per setting")
    config = preset_config(args.preset)
    context = RecipeContext(space, config.supernet.recipe, args)
    correct = {variant(r): finetuned_correct(d / r["model_file"], context, device) for d, r in reports}
    run_dir, chosen = chosen_run(reports, config.finetune)
    alone = context.standalone(np.asarray(chosen["genome"], dtype=np.int64), cache, device, "finetuned winner")
    out = {"acc": chosen["acc_after"], "standalone_acc": alone["standalone_acc"], "acc_before": chosen["acc_before"],
           "run": str(run_dir), "arch": chosen["arch"], "teacher": chosen["teacher"], "variant": variant(chosen),
           "finetune_epochs": chosen["epochs"], "standalone_recipe": config.supernet.recipe,
           "standalone_epochs": context.epochs, "standalone_seconds": alone.get("seconds"), "settings": args.settings,
           "variants": {variant(r): {"acc": r["acc_after"], "acc_before": r["acc_before"], "run": str(d),
                                     "train_seconds": r.get("train_seconds"),
                                     **({"minus_chosen": paired_comparison(correct[variant(r)],
                                                                           correct[variant(chosen)])}
                                        if r is not chosen else {})} for d, r in reports}}
    if "correct_b64" in alone:
        out["vs_standalone"] = paired_comparison(correct[variant(chosen)],
                                                 unpack_correct(alone["correct_b64"], alone["test_images"]))
    return out


def variant(report: dict) -> str:
    """A fine-tune run's settings in a few words: teacher, epochs and (where recorded) peak learning
    rate, the distillation weight where it is not the default (``finetune.kd_weight``), and BN
    statistics where they were updated (``finetune.freeze_bn`` false; in runs made before that
    setting, ``quant.freeze_bn`` false)."""
    finetune = finetune_settings(report)
    lr, epochs = finetune.get("lr"), report["epochs"]
    kd, default_kd = finetune.get("kd_weight", FinetuneConfig.kd_weight), FinetuneConfig.kd_weight
    return f"teacher {report['teacher']}, {epochs:g} epoch{'' if epochs == 1 else 's'}" + \
        ("" if lr is None else f", lr {lr:g}") + ("" if kd == default_kd else f", kd weight {kd:g}") + \
        (", BN statistics updated" if finetune["freeze_bn"] is False else "")


def finetune_settings(report: dict) -> dict:
    """A fine-tune run's ``finetune`` settings (teacher and epochs alone in runs that recorded no
    settings), with ``freeze_bn`` taken from ``quant.freeze_bn`` in runs made before it was a
    fine-tune setting (None where neither was recorded)."""
    settings = report.get("settings", {})
    finetune = dict(settings.get("finetune", {"teacher": report["teacher"], "epochs": report["epochs"]}))
    finetune.setdefault("freeze_bn", settings.get("quant", {}).get("freeze_bn"))
    return finetune


def chosen_run(reports: list[tuple[Path, dict]], configured) -> tuple[Path, dict]:
    """The run fine-tuned with the configured teacher, epochs, learning rate and BN setting; else the
    first with the configured teacher, epochs and learning rate; else with its teacher; else the first."""
    def same(r: dict, *fields: str) -> bool:
        return all(finetune_settings(r).get(f) == getattr(configured, f) for f in fields)
    for fields in (("teacher", "epochs", "lr", "freeze_bn"), ("teacher", "epochs", "lr"), ("teacher",)):
        match = next((x for x in reports if same(x[1], *fields)), None)
        if match is not None:
            return match
    return reports[0]


def finetuned_correct(model_file: Path, context: "RecipeContext", device) -> np.ndarray:
    """(test images,) bool: which test images the fine-tuned model in ``model_file`` gets right."""
    model, _ = load_winner(model_file)
    _, test, _ = context.splits
    return evaluate(model.to(device), *test, context.config.eval_batch, context.config.channels_last).correct


def _tau(a: list[float], b: list[float]) -> float | None:
    """Kendall's tau of two (n,) lists to four decimals; None where undefined (either side constant)."""
    tau = kendall_tau(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return None if np.isnan(tau) else round(tau, 4)


def cross_references(recipes: dict) -> dict:
    """Every recipe's inherited accuracies against every recipe's stand-alone results, on the sub-nets
    all of them measured (the same seeded genomes): adds ``rank_tau_by_reference`` = {"<epochs> epochs":
    tau} to each recipe, and returns {"<e1> vs <e2> epochs": tau} of the stand-alone results with each
    other (how stable the stand-alone order itself is). Each recipe's ``rank_tau`` is against its own
    epochs, so two recipes of different epochs are otherwise judged against different references."""
    by_arch = {name: {row["arch"]: row for row in r["subnets"]} for name, r in recipes.items()}
    common = sorted(set.intersection(*(set(rows) for rows in by_arch.values())))
    references = {f"{r['standalone_epochs']:g} epochs": [by_arch[name][a]["standalone_acc"] for a in common]
                  for name, r in recipes.items()}
    for name, r in recipes.items():
        inherited = [by_arch[name][a]["supernet_acc"] for a in common]
        r["rank_tau_by_reference"] = {ref: _tau(inherited, alone) for ref, alone in references.items()}
    names = list(references)
    return {f"{a.removesuffix(' epochs')} vs {b}": _tau(references[a], references[b])
            for i, a in enumerate(names) for b in names[i + 1:]}


def better_recipe(recipes: dict) -> str:
    """By rank agreement first (tau to two decimals: the mean over every stand-alone reference in
    ``rank_tau_by_reference`` when there is one, so a reference's length does not pick the recipe),
    then the mean supernet accuracy of the named sub-nets."""
    def agreement(r: dict) -> float:
        taus = list(r.get("rank_tau_by_reference", {}).values()) or [r["rank_tau"]]
        return -2.0 if None in taus else round(float(np.mean(taus)), 2)

    def score(name: str):
        r = recipes[name]
        return agreement(r), float(np.mean([r[n]["supernet_acc"] for n in NAMED]))
    return max(recipes, key=score)


def main() -> None:
    parser = bench_arguments(__doc__, "supernet")
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--train", action="store_true", help="train each recipe's supernet in <work>/<recipe>")
    parser.add_argument("--work", default=str(project_root() / "results" / "bench" / "supernet_roots"))
    parser.add_argument("--supernet", action="append", default=[], metavar="RECIPE=PATH", help="an existing supernet")
    parser.add_argument("--subnets", type=int, default=6, help="sub-nets per recipe (>= 6)")
    parser.add_argument("--epochs", type=float, help="stand-alone epochs (default: the recipe's total)")
    parser.add_argument("--cache", default=str(project_root() / "results" / "bench" / "supernet_standalone.json"))
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-dir")
    parser.add_argument("--finetuned", metavar="RUN_DIR", action="append", default=[],
                        help="a run after 'apq finetune' (repeatable: one winner, one run per setting): adds "
                             "finetuned_winner (its accuracy vs the same architecture trained alone with the "
                             "configured default recipe)")
    parser.add_argument("--keep-recipes", action="store_true",
                        help="take the recipes from the existing --out file instead of measuring them "
                             "(to add --finetuned to it)")
    args = parser.parse_args()
    if args.subnets < 6:
        parser.error("--subnets must be at least 6")
    if args.keep_recipes and not Path(args.out).is_file():
        parser.error(f"--keep-recipes takes the recipes from --out, and {args.out} does not exist")
    args.given = dict(item.split("=", 1) for item in args.supernet)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    space, device = create_space(args.space), pick_device()
    threads = training_threads(apply_settings(preset_config(args.preset), args.settings).supernet)
    torch.set_num_threads(threads)
    cache = StandaloneCache(Path(args.cache))
    if args.keep_recipes:
        kept = json.loads(Path(args.out).read_text())
        measured = {k: kept[k] for k in ("settings", "recipes", "default_recipe", "configured_default")}
        measured["standalone_agreement"] = kept.get("standalone_agreement")
        measured["recipes_recorded"] = kept.get("recipes_recorded", kept.get("recorded"))  # the recipes' own stamp
    else:
        recipes = {recipe: bench_recipe(space, recipe, args, cache, device) for recipe in args.recipes}
        agreement = cross_references(recipes)
        measured = {"settings": args.settings, "recipes": recipes, "standalone_agreement": agreement,
                    "default_recipe": better_recipe(recipes),
                    "configured_default": preset_config(args.preset).supernet.recipe}
    extra = {"finetuned_winner": finetuned_winner(space, [Path(d) for d in args.finetuned], args, cache, device)
             } if args.finetuned else {}
    write_json(args.out, {"space": space.name, "preset": args.preset, "threads": threads, "device": str(device),
                          **measured, **extra, "created": time.strftime("%Y-%m-%d %H:%M:%S")})
    print(args.out)


if __name__ == "__main__":
    main()
