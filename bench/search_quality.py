"""Search quality, verified: the joint search against every baseline, pooled over seeds, per target and budget.

    .venv/bin/python bench/search_quality.py [--preset default] [--targets fpga bitfusion]
        [--budgets tight mid loose] [--seeds 0 1 2] [--rerank-k 1 4] [--jobs 1] [--threads 1]
        [--set section.field=value ...] [--tag NAME] [--variant-note TEXT]

Needs the upstream artifacts of the preset (``make predictor``: supernet, samples, predictors).

Budgets, from the cost tables (the same for every seed): the 10th (``tight``), 50th (``mid``) and
90th (``loose``) percentile of the latency of uniform W8A8 over 1000 random valid architectures
(seed 0; architecture and channels drawn, every bit width at 8). At ``tight`` uniform W8A8 can
only fit architectures from the cheapest tenth of its range, so spending bits where they matter
should pay most there.

Each case (target, budget) runs, for every seed S and every k of ``--rerank-k``, ``apq search
--baselines --seed S --set search.rerank_k=K`` and ``apq verify`` (its fine-tune and test split;
the verification seed is the search seed): run folders ``quality-<budget>-s<S>-k<K>`` under
``results/<space>/<target>/``. ``--set`` passes settings to every search (e.g. a variant of the
joint search) and ``--tag NAME`` keeps such runs apart (``...-k<K>-<NAME>``; a variant made
upstream, e.g. another predictor in another project root beside copies of the default's runs, is
tagged alone and described by ``--variant-note``); a finished run made
with other search settings than asked is refused, not reused. A rerun reuses every finished search
and verification (and verification resumes per candidate), so the benchmark resumes per case and
per seed. ``--no-before B ...`` runs those budgets at ``--compare-k`` only (no k = 1 runs, so
no "before" figure), e.g. to add a budget beside finished ones. A seed's runs go largest k first,
and a run verifies only the winners that no finished run of its case and seed has verified (same
genome and settings: the k = 1 winner is often one of the k = 4 candidates, and a variant of the
joint search leaves the baselines as they were).

Per case, at ``--compare-k`` (default: the preset's ``search.rerank_k``), ``vs.<baseline>``
compares the joint winner with each baseline winner on the same test images, pooled over seeds:

- ``margin``: mean over seeds of joint minus baseline test accuracy, in points;
- ``ci95``: a two-level paired bootstrap: seeds drawn with replacement, then within each drawn
  seed the test images (paired, :func:`apq.verify.stats.bootstrap_diffs`), the mean margin of each draw;
- ``p``: exact two-sided McNemar test on the discordant images pooled over seeds (images only
  the joint winner gets right vs only the baseline's, summed over the seeds' test splits).

``best_uniform`` is, per case, the uniform-precision level (W8A8, W4A4, W2A2 where the space
offers them) with the highest mean *test* accuracy over the seeds: chosen on the test split, it
favours the baseline, so a margin over it is conservative. ``winners_curse`` holds per method the mean predicted minus
measured (test) accuracy before re-ranking (the k = 1 run: the predictor's winner) and after (at
``--compare-k``: the re-ranking's validation accuracy minus the test accuracy, and the predictor's
value minus it). ``by_k`` holds each method's mean measured accuracy at every k (to choose k).
With ``--tag``, ``vs.joint_untagged`` compares the tagged joint winner with the untagged runs' joint
winner of the same seeds (same statistics), where those runs exist: the variant against the default.
``headroom`` (:func:`headroom`) bounds what any bit policy can buy at the case's budget: the fp32
accuracy of the best architecture that fits at each uniform width, narrowest minus W4A4.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from apq.cli import main as apq
from apq.config import apply_settings, preset_config
from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.io import write_json
from apq.report import bench_arguments
from apq.predictor.load import load_fp32_predictor
from apq.samples.evaluate import SampleJob, context, evaluate_fp32, release_context
from apq.search.constraint import Constraint
from apq.search.methods import bit_columns, uniform_precision
from apq.search.problem import Problem
from apq.search.outputs import results_dir
from apq.search.variation import Variation
from apq.space.genome import Rules
from apq.space.registry import create_space
from apq.stages.layout import supernet_path
from apq.quant.winner import WINNER
from apq.verify.run import PARTIAL, REPORT, candidates, verified_results, write_partial
from apq.verify.stats import bootstrap_diffs, discordant, mcnemar_exact, unpack_correct

SPACE = "fmnist"
#: Budget name -> percentile of uniform W8A8's latency over random valid architectures.
BUDGETS = {"tight": 0.10, "mid": 0.50, "loose": 0.90}
BUDGET_SAMPLES, BUDGET_SEED = 1000, 0
N_BOOT = 10000
#: The issue's targets: margin over best uniform at tight, the re-ranked winner's |val - test|.
TIGHT_MARGIN, ALPHA, CURSE_LIMIT = 1.0, 0.05, 1.0
#: Search settings added after runs were made, with the value those runs behaved as (a run's
#: config.json without the key was made with it).
SETTINGS_BEFORE_THEY_EXISTED = {"rerank_bit_floors": []}


def w8a8_latencies(target_name: str) -> np.ndarray:
    """Latency (ms) of uniform W8A8 on :data:`BUDGET_SAMPLES` random valid architectures of the space."""
    space, target = create_space(SPACE), create_target(target_name)
    rules = Rules(space, target.forbidden)
    variation = Variation(space, rules, bit_columns(space, 8))
    genomes = variation.sample(BUDGET_SAMPLES, np.random.default_rng(BUDGET_SEED))
    return CostTable(space, target).evaluate(genomes).latency_ms


def budget_limit(target: str, budget: str) -> float:
    return round(float(np.quantile(w8a8_latencies(target), BUDGETS[budget])), 4)


def headroom(target: str, limit: float, preset: str, seed: int = 0) -> dict:
    """What a bit policy can buy at ``limit``: per bit width b of the space, the architecture with the
    best fp32-predicted accuracy whose latency fits with every searchable layer at WbAb (a GA over
    architecture and channels, scored by the fp32 predictor), its predicted and measured fp32
    validation accuracy (the fp32 samples' procedure). Costs fall with bits on every target, so the
    narrowest width's architecture bounds what any policy can afford; ``ceiling_minus_w4a4`` is its
    measured fp32 accuracy minus W4A4's, in points (how far mixed precision can move the architecture
    past uniform W4A4 before paying any quantization loss). A few minutes per case here."""
    run_config = preset_config(preset)
    space = create_space(SPACE)
    problem = Problem(CostTable(space, create_target(target)), load_fp32_predictor(space),
                      Constraint("latency_ms", limit, "user"), quant=False)
    job = SampleJob(SPACE, "fp32", run_config.preset, run_config.samples, run_config.quant,
                    str(supernet_path(space.name)), None)
    levels = {}
    try:
        for bits in sorted(int(b) for b in space.bit_choices):
            best = uniform_precision(problem, run_config.search, [seed, bits], bits=bits).best
            if best is None:
                continue
            measured = evaluate_fp32(context(job), best.genomes[0], run_config.samples)
            levels[f"w{bits}a{bits}"] = {"genome": best.genomes[0].tolist(), "latency_ms": float(best.latency_ms[0]),
                                         "predicted_fp32_acc": float(best.acc[0]),
                                         "measured_fp32_val_acc": float(measured.accuracy)}
    finally:
        release_context()
    out = {"levels": levels}
    if "w4a4" in levels:  # levels run narrowest first: the first one is the ceiling
        ceiling = next(iter(levels.values()))["measured_fp32_val_acc"]
        out["ceiling_minus_w4a4"] = ceiling - levels["w4a4"]["measured_fp32_val_acc"]
    return out


def run_name(budget: str, seed: int, k: int, tag: str = "") -> str:
    return f"quality-{budget}-s{seed}-k{k}" + (f"-{tag}" if tag else "")


@dataclass(frozen=True)
class Runs:
    """How every run of the benchmark is made: preset, extra search settings and their tag, threads."""

    preset: str
    settings: tuple[str, ...] = ()
    tag: str = ""
    threads: int = 1
    rerank_jobs: int = 1

    def search_config(self, k: int) -> dict:
        """The resolved search settings a run at ``k`` must have been made with (config.json's ``search``)."""
        config = apply_settings(preset_config(self.preset), [*self.settings, f"search.rerank_k={k}"])
        return json.loads(json.dumps(config.search.to_dict()))


def run_unit(target: str, budget: str, limit: float, seed: int, k: int, runs: Runs,
             donors: tuple[Path, ...] = ()) -> dict:
    """Search (unless done) and verify (resumes; a no-op when up to date) one seed at one k, reusing
    the donors' verified winners (:func:`reuse_verified`); returns ``{"best": best.json, "verify":
    verify.json}`` or ``{"error": ...}``."""
    run_dir = results_dir(SPACE, target) / run_name(budget, seed, k, runs.tag)
    if (run_dir / "best.json").exists():
        made_with = {**SETTINGS_BEFORE_THEY_EXISTED, **json.loads((run_dir / "config.json").read_text())["search"]}
        if made_with != runs.search_config(k):
            return {"error": f"{run_dir.name} was made with other search settings; move it away or pass --tag"}
    else:
        sets = [arg for item in runs.settings for arg in ("--set", item)]
        code = apq(["search", "--space", SPACE, "--target", target, "--preset", runs.preset, "--latency", str(limit),
                    "--seed", str(seed), "--baselines", "--set", f"search.rerank_k={k}", *sets,
                    "--jobs", str(runs.rerank_jobs), "--run", run_dir.name])
        if code:
            return {"error": f"{run_dir.name}: search exit {code}"}
    reuse_verified(run_dir, donors)
    if apq(["verify", str(run_dir), "--space", SPACE, "--preset", runs.preset, "--threads", str(runs.threads)]):
        return {"error": f"{run_dir.name}: verify failed"}
    return {"best": json.loads((run_dir / "best.json").read_text()),
            "verify": json.loads((run_dir / "verify.json").read_text())}


def run_seed(target: str, budget: str, limit: float, seed: int, ks: list[int], runs: Runs) -> dict[int, dict]:
    """Every k of one seed, largest first, each run reusing the verifications of every finished run
    of the case and seed (this call's earlier ones included)."""
    units, folder = {}, results_dir(SPACE, target)
    for k in sorted(ks, reverse=True):
        name = run_name(budget, seed, k, runs.tag)
        donors = tuple(p for p in sorted(folder.glob(f"quality-{budget}-s{seed}-k*")) if p.name != name)
        units[k] = run_unit(target, budget, limit, seed, k, runs, donors)
    return units


def untagged_joint(target: str, budget: str, seeds: list[int], k: int) -> list[dict] | None:
    """The untagged runs' verify.json at ``k`` for every seed, or None if any is missing."""
    files = [results_dir(SPACE, target) / run_name(budget, s, k) / REPORT for s in seeds]
    return [json.loads(f.read_text()) for f in files] if all(f.exists() for f in files) else None


def reuse_verified(run_dir: Path, donors: tuple[Path, ...]) -> None:
    """Start ``run_dir``'s verification from the donors' finished results of the same genomes.

    Writes ``verify.partial.json`` (only when the run has neither a partial nor a final report)
    holding, per winner of ``run_dir/best.json``, a donor's verified result of the same genome;
    ``apq verify`` takes it only if its settings (seed, fine-tune, supernet) equal its own, so a
    wrong donor costs nothing but the reuse. A reused joint winner brings its ``winner.pt``.
    """
    if (run_dir / REPORT).exists() or (run_dir / PARTIAL).exists():
        return
    wanted = candidates(json.loads((run_dir / "best.json").read_text()))
    results, settings = {}, None
    for donor in donors:
        report = json.loads((donor / REPORT).read_text()) if (donor / REPORT).exists() else None
        if report is None or settings not in (None, report["settings"]):
            continue
        settings = report["settings"]
        verified = verified_results(report)
        for name, record in wanted:
            got = verified.get(name)
            if name in results or got is None or got["genome"] != record["genome"]:
                continue
            if name == "joint":
                if not (donor / WINNER).exists():
                    continue
                shutil.copyfile(donor / WINNER, run_dir / WINNER)
            results[name] = got
    if results:
        write_partial(run_dir, settings, results)


# ---- statistics ------------------------------------------------------------------------------
def correct_bits(result: dict) -> np.ndarray:
    return unpack_correct(result["correct_b64"], result["test_images"])


def pooled_comparison(pairs: list[tuple[np.ndarray, np.ndarray]], seed: int = 0) -> dict:
    """Joint vs one baseline over seeds: ``pairs`` holds per seed the two (n,) bool correctness
    vectors on that seed's test images. See the module docstring for margin, ci95 and p."""
    counts = [discordant(a, b) for a, b in pairs]
    sizes = [len(a) for a, _ in pairs]
    per_seed = [100.0 * (a_only - b_only) / n for (a_only, b_only), n in zip(counts, sizes)]
    boot = np.stack([bootstrap_diffs(a_only, b_only, n, N_BOOT, seed + i)
                     for i, ((a_only, b_only), n) in enumerate(zip(counts, sizes))])  # (seeds, N_BOOT)
    draw = np.random.default_rng(seed).integers(len(pairs), size=(N_BOOT, len(pairs)))
    means = boot[draw, np.arange(N_BOOT)[:, None]].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    a_total, b_total = (sum(c[i] for c in counts) for i in (0, 1))
    return {"margin": float(np.mean(per_seed)), "ci95": [float(lo), float(hi)], "p": mcnemar_exact(a_total, b_total),
            "discordant": [a_total, b_total], "per_seed": per_seed}


def winners(report: dict) -> dict[str, dict]:
    """{method: verified result} of one verify.json: the joint winner and every baseline winner."""
    return {"joint": report, **report["baselines"]}


def best_uniform(per_seed: list[dict[str, dict]]) -> str | None:
    """The uniform level (``uniform_w*``) with the highest mean test accuracy over a case's seeds."""
    names = [n for n in per_seed[0] if n.startswith("uniform_") and all(n in w for w in per_seed)]
    return max(names, key=lambda n: np.mean([w[n]["measured_acc"] for w in per_seed]), default=None)


def compare(units: list[dict]) -> dict:
    """``vs``: the joint winner against every baseline over the seeds' units, and ``best_uniform``
    (the best uniform level of the case, named in ``of``)."""
    per_seed = [winners(u["verify"]) for u in units]
    names = sorted(set.intersection(*(set(w) for w in per_seed)) - {"joint"})
    vs = {name: pooled_comparison([(correct_bits(w["joint"]), correct_bits(w[name])) for w in per_seed])
          for name in names}
    level = best_uniform(per_seed)
    if level is not None:
        vs["best_uniform"] = {**vs[level], "of": level}
    return vs


def curse(units: list[dict], use_val: bool) -> dict[str, float]:
    """Mean over seeds of predicted (``use_val``: the re-ranking's validation accuracy) minus test accuracy, per method."""
    gaps: dict[str, list[float]] = {}
    for unit in units:
        best = {"joint": unit["best"], **unit["best"].get("baselines", {})}
        for name, result in winners(unit["verify"]).items():
            predicted = best[name].get("val_acc") if use_val else best[name]["predicted_acc"]
            if predicted is not None:
                gaps.setdefault(name, []).append(predicted - result["measured_acc"])
    return {name: float(np.mean(values)) for name, values in gaps.items()}


def shortlist_curse(units: list[dict]) -> dict[str, dict]:
    """Per method, over every candidate its re-ranking measured (all seeds): mean predicted minus
    validation accuracy (points) and the count. How far the predictor errs where each method's
    search leads it, from every measurement rather than the winners alone."""
    gaps: dict[str, list[float]] = {}
    for unit in units:
        best = unit["best"]
        for name, entry in {"joint": best, **best.get("baselines", {})}.items():
            gaps.setdefault(name, []).extend(c["predicted_acc"] - c["val_acc"] for c in entry.get("reranked", []))
    return {name: {"mean": float(np.mean(g)), "n": len(g)} for name, g in gaps.items() if g}


def mean_measured(per_seed: list[dict[str, dict]]) -> dict[str, float]:
    """Mean test accuracy over seeds of each method present in every seed, ``best_uniform`` included."""
    names = [n for n in per_seed[0] if all(n in w for w in per_seed)]
    out = {n: float(np.mean([w[n]["measured_acc"] for w in per_seed])) for n in names}
    level = best_uniform(per_seed)
    if level is not None:
        out["best_uniform"] = out[level]
    return out


def summarise_case(target: str, budget: str, limit: float, seeds: list[int], ks: list[int], compare_k: int,
                   units: dict[tuple[int, int], dict], tag: str = "") -> dict:
    """One entry of ``cases`` from its finished units ({(seed, k): unit}); with ``tag``, also the
    tagged joint winner against the untagged one (``vs.joint_untagged``) where those runs exist."""
    case = {"target": target, "budget": budget, "latency_limit_ms": limit, "seeds": seeds, "k": compare_k}
    errors = [u["error"] for u in units.values() if "error" in u]
    if errors:
        return {**case, "error": "; ".join(errors)}
    at_k = [units[(s, compare_k)] for s in seeds]
    case["vs"] = compare(at_k)
    plain = untagged_joint(target, budget, seeds, compare_k) if tag else None
    if plain is not None:
        case["vs"]["joint_untagged"] = pooled_comparison([(correct_bits(u["verify"]), correct_bits(p))
                                                          for u, p in zip(at_k, plain)])
    case["joint_measured_acc"] = float(np.mean([u["verify"]["measured_acc"] for u in at_k]))
    before = curse([units[(s, 1)] for s in seeds], use_val=False) if 1 in ks else {}
    after_val, after_pred = (curse(at_k, use_val=True), curse(at_k, use_val=False)) if compare_k > 1 else ({}, {})
    case["winners_curse"] = {name: {"before": before.get(name), "after": after_val.get(name),
                                    "after_predictor": after_pred.get(name)}
                             for name in sorted(set(before) | set(after_val) | set(after_pred))}
    case["by_k"] = {str(k): mean_measured([winners(units[(s, k)]["verify"]) for s in seeds]) for k in ks}
    if compare_k > 1:
        case["shortlist_curse"] = shortlist_curse(at_k)
    case["checks"] = checks(case)
    return case


def checks(case: dict) -> dict:
    """The issue's targets for one case (tight: beats every baseline and best uniform by the margin;
    everywhere: never significantly worse; the re-ranked joint winner's |validation - test| small)."""
    vs = case["vs"]
    out = {"never_significantly_worse": all(not (v["margin"] < 0 and v["p"] < ALPHA) for v in vs.values())}
    if case["budget"] == "tight":
        out["beats_every_baseline_p_below_0_05"] = all(v["margin"] > 0 and v["p"] < ALPHA for v in vs.values())
        out["margin_over_best_uniform_at_least_1"] = "best_uniform" in vs and vs["best_uniform"]["margin"] >= TIGHT_MARGIN
    after = case["winners_curse"].get("joint", {}).get("after")
    if after is not None:
        out["reranked_joint_abs_error_within_1"] = abs(after) <= CURSE_LIMIT
    return out


# ---- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = bench_arguments(__doc__, "search_quality")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--targets", nargs="+", default=["fpga", "bitfusion"])
    parser.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rerank-k", nargs="+", type=int, default=None,
                        help="search.rerank_k values run per seed (default: 1 and the preset's); 1 gives 'before'")
    parser.add_argument("--compare-k", type=int, default=None,
                        help="the k whose winners are compared (default: the preset's search.rerank_k)")
    parser.add_argument("--jobs", type=int, default=1, help="runs (case, seed, k) in parallel processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each verification")
    parser.add_argument("--rerank-jobs", type=int, default=1, help="re-ranking workers of each search")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of every search (repeatable), e.g. search.rerank_bit_floors=4")
    parser.add_argument("--tag", default="", help="suffix of the run folders (needed with --set)")
    parser.add_argument("--variant-note", default="",
                        help="what a tagged variant changes outside the search settings (e.g. the predictor it "
                             "was run with), for the results page")
    parser.add_argument("--no-before", nargs="+", default=[], choices=list(BUDGETS), metavar="BUDGET",
                        help="budgets run at --compare-k only (no k = 1 runs, no 'before' figure)")
    args = parser.parse_args()
    if args.settings and not args.tag:
        parser.error("--set needs --tag, so that the variant's runs stay apart from the default's")
    runs = Runs(args.preset, tuple(args.settings), args.tag, args.threads, args.rerank_jobs)
    compare_k = args.compare_k or preset_config(args.preset).search.rerank_k
    ks = sorted(set(args.rerank_k or [1, compare_k]) | {compare_k})
    limits = {(t, b): budget_limit(t, b) for t in args.targets for b in args.budgets}
    ks_of = {b: [compare_k] if b in args.no_before else ks for b in args.budgets}
    keys = [(t, b, s) for t, b in limits for s in args.seeds]
    done = Parallel(n_jobs=args.jobs)(delayed(run_seed)(t, b, limits[t, b], s, ks_of[b], runs) for t, b, s in keys)
    units = {(t, b, s, k): unit for (t, b, s), per_k in zip(keys, done) for k, unit in per_k.items()}
    cases = [{**summarise_case(t, b, limits[t, b], args.seeds, ks_of[b], compare_k,
                               {(s, k): units[t, b, s, k] for s in args.seeds for k in ks_of[b]}, args.tag),
              "headroom": headroom(t, limits[t, b], args.preset)} for t, b in limits]
    write_json(args.out, {"space": SPACE, "preset": args.preset, "budgets": BUDGETS,
                          "budget_definition": f"percentile of uniform W8A8 latency over {BUDGET_SAMPLES} random valid "
                                               f"architectures (seed {BUDGET_SEED})",
                          "seeds": args.seeds, "rerank_k": ks, "compare_k": compare_k, "no_before": args.no_before,
                          "settings": args.settings, "tag": args.tag, "variant_note": args.variant_note,
                          "p_value": "exact two-sided McNemar on the discordant test images pooled over seeds",
                          "ci95": "two-level paired bootstrap: seeds with replacement, then test images within each",
                          "best_uniform": "per case, the uniform level with the highest mean test accuracy over the seeds",
                          "cases": cases})
    print_table(cases)
    print(f"wrote {args.out}")


def print_table(cases: list[dict]) -> None:
    for c in cases:
        head = f"{c['target']:<10} {c['budget']:<6} {c['latency_limit_ms']:>8.4g} ms"
        if "error" in c:
            print(f"{head}  {c['error']}")
            continue
        print(f"{head}  joint {c['joint_measured_acc']:.2f} %  " + "  ".join(
            f"{n} {v['margin']:+.2f} [{v['ci95'][0]:+.2f}, {v['ci95'][1]:+.2f}] p={v['p']:.3g}" for n, v in c["vs"].items()))


if __name__ == "__main__":
    main()
