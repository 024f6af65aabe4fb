"""``apq verify``: measure the accuracy of a run's winners for real.

For the joint winner and each baseline winner of ``best.json``: extract the static sub-net from
the supernet, re-calibrate BN, attach quantizers for its bit policy, calibrate activation ranges,
fine-tune with quantization in the loop (``VerifyConfig.qat_steps``, distilled from the fp32
sub-net) and evaluate on the official test split, which no earlier stage has touched (the
supernet, the samples and the predictors only ever saw training and validation images).

Resumable per candidate: each finished candidate is written to ``verify.partial.json`` at once,
a rerun with the same settings skips it, and ``verify.json`` replaces the partial file at the end;
``verify.stamp.json`` (:mod:`apq.stages.fresh`: settings, supernet digest, best.json's digest)
then marks the report up to date.

Every result records which test images the candidate classified correctly (``correct_b64``: base64
of the packed (test_images,) bool vector, :func:`apq.verify.stats.pack_correct`), kept in the JSON
itself so that the per-candidate resume and the stamp cover it with no second file. The report
compares the joint winner with each baseline winner on those images (``baselines.<name>.paired``:
joint minus baseline in points, paired bootstrap 95 % interval, exact McNemar p-value; see
:func:`apq.verify.stats.paired_comparison`). A finished result without the bits (made before they
were recorded) is verified again.

The fine-tuned fake-quantized joint winner is kept in ``winner.pt`` (see
:mod:`apq.quant.winner`; ``apq export`` reads it) and named in the report (``winner_file``). A
report whose winner file is missing, or holds another genome or settings, is not up to date: a
rerun fine-tunes the joint winner again and reuses the baselines' results.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from apq.errors import UserError
from apq.io import write_json
from apq.nn.runtime import torch_threads
from apq.quant.config import QuantConfig
from apq.quant.pipeline import evaluate_quantized
from apq.quant.winner import WINNER, read_winner, save_winner
from apq.stages.fresh import FRESH, Stamp, freshness, read_stamp, upstream_digests, write_stamp
from apq.stages.lock import artifact_lock
from apq.verify.config import VerifyConfig
from apq.verify.stats import pack_correct, paired_comparison, unpack_correct

log = logging.getLogger(__name__)

#: Version of verify.json's contents, part of its stamp: bumping it makes older reports stale.
STAMP_FORMAT = "apq-verify/2"

PARTIAL = "verify.partial.json"
REPORT = "verify.json"
#: Fields copied from best.json for every verified candidate.
COST_FIELDS = ("predicted_acc", "latency_ms", "energy_mj", "bitops")
#: Key under which :func:`verify_candidate` hands back the fine-tuned model (never written to JSON).
MODEL = "_model"
#: Keys a report adds around the joint winner's own result.
REPORT_KEYS = ("run", "space", "target", "constraint", "abs_error", "baselines", "not_verified", "settings")


def candidates(best: dict) -> list[tuple[str, dict]]:
    """(name, record): ``joint`` first, then every baseline that has a feasible winner."""
    out = [("joint", best)]
    out += [(name, rec) for name, rec in best.get("baselines", {}).items() if rec.get("predicted_acc") is not None]
    return out


def settings_of(vconfig: VerifyConfig, qconfig: QuantConfig, seed: int, supernet_meta: dict, test_images: int) -> dict:
    """What a verification result depends on besides the genome; a partial file must match it."""
    verify = {k: v for k, v in vconfig.to_dict().items() if k != "num_threads"}  # speed only
    return {"verify": verify, "quant": qconfig.to_dict(), "seed": seed, "test_images": test_images,
            "supernet": {k: supernet_meta.get(k) for k in ("space", "preset", "supernet_config", "digest")}}


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _finished(run_dir: Path, settings: dict) -> dict:
    """Results of a partial run, or of an outdated report, with the same settings ({} if none)."""
    partial = _read_json(run_dir / PARTIAL)
    if partial is None:
        return _reported(run_dir, settings)
    if partial.get("settings") != settings:
        log.info("ignoring %s: it was made with other settings", run_dir / PARTIAL)
        return {}
    return partial["results"]


def write_partial(run_dir: Path, settings: dict, results: dict[str, dict]) -> None:
    """Record finished per-candidate ``results`` made with ``settings``; a rerun with the same
    settings skips them (:func:`_finished`)."""
    write_json(run_dir / PARTIAL, {"settings": settings, "results": results})


def _reported(run_dir: Path, settings: dict) -> dict:
    """Per-candidate results of an existing verify.json made with ``settings`` ({} if none), so that
    a report that is outdated only because ``winner.pt`` is missing redoes the joint winner alone."""
    report = _read_json(run_dir / REPORT)
    if report is None or report.get("settings") != settings:
        return {}
    return verified_results(report)


def verified_results(report: dict) -> dict[str, dict]:
    """{name: per-candidate result} of a verify.json (``joint`` and every baseline), in the form
    ``verify.partial.json`` holds them."""
    done = {"joint": {k: v for k, v in report.items() if k not in REPORT_KEYS}}
    done.update({name: {k: v for k, v in r.items() if k not in ("abs_error", "paired")}
                 for name, r in report.get("baselines", {}).items()})
    return done


def winner_ok(run_dir: Path, joint: dict, settings: dict) -> bool:
    """Whether the winner file a joint result names exists and holds its genome and settings.

    A result without ``winner_file`` predates ``winner.pt`` (not ok); ``winner_file: None`` means
    the candidate evaluator handed back no model (a stand-in evaluator), so there is nothing to check.
    """
    name = joint.get("winner_file", WINNER)
    if name is None:
        return True
    try:
        meta = read_winner(run_dir / name)["meta"]
    except UserError:
        return False
    return meta.get("genome") == joint["genome"] and meta.get("settings") == settings


def _keep_winner(run_dir: Path, supernet, result: dict, qconfig: QuantConfig, settings: dict) -> dict:
    """Write ``winner.pt`` from the model in ``result`` (popped); the result names the file (or None)."""
    model = result.pop(MODEL, None)
    if model is None:
        return {**result, "winner_file": None}
    meta = {"genome": result["genome"], "settings": settings, "measured_acc": result["measured_acc"],
            "test_images": result.get("test_images")}
    save_winner(run_dir / WINNER, model, supernet.space, result["genome"], qconfig.per_channel, meta)
    return {**result, "winner_file": WINNER}


def verify_candidate(supernet, record: dict, data, qconfig: QuantConfig, vconfig: VerifyConfig, seed: int) -> dict:
    """Quantize, fine-tune and test one candidate; its costs and predicted/measured accuracy, and
    the fine-tuned fake-quantized model under :data:`MODEL`."""
    started = time.perf_counter()
    result = evaluate_quantized(supernet, np.asarray(record["genome"], dtype=np.int64), data, qconfig,
                                vconfig.qat_steps, split="test", seed=seed)
    measured = {"measured_acc": float(result.accuracy), "measured_loss": float(result.loss),
                "test_images": int(result.count), "correct_b64": pack_correct(result.correct),
                "seconds": round(time.perf_counter() - started, 2)}
    return {**{k: record[k] for k in COST_FIELDS}, **measured, "genome": record["genome"], "arch": record["arch"],
            MODEL: result.model}


def verify_run(run_dir: Path, supernet, data, qconfig: QuantConfig, vconfig: VerifyConfig, seed: int,
               supernet_meta: dict) -> dict:
    """Verify every candidate of ``run_dir/best.json`` (skipping finished ones); returns verify.json."""
    with artifact_lock(run_dir / REPORT), torch_threads(vconfig.num_threads):
        return _verify_run(run_dir, supernet, data, qconfig, vconfig, seed, supernet_meta)


def _verify_run(run_dir: Path, supernet, data, qconfig: QuantConfig, vconfig: VerifyConfig, seed: int,
                supernet_meta: dict) -> dict:
    best = json.loads((run_dir / "best.json").read_text())
    settings = settings_of(vconfig, qconfig, seed, supernet_meta, len(data.test_x))
    stamp = Stamp("verify", STAMP_FORMAT, settings, {}, upstream_digests(run_dir / "best.json"))
    existing = _read_json(run_dir / REPORT)
    outputs = [run_dir / REPORT] + ([run_dir / WINNER] if (existing or {}).get("winner_file", WINNER) else [])
    if freshness(stamp, read_stamp(run_dir / REPORT), outputs, command="apq verify", replaceable=True) == FRESH:
        log.info("%s is up to date", run_dir / REPORT)
        return existing
    done = _finished(run_dir, settings)
    todo = candidates(best)
    for name, record in tqdm(todo, desc="verify", unit="model"):
        if name in done and done[name]["genome"] == record["genome"] and "correct_b64" in done[name] and (
                name != "joint" or winner_ok(run_dir, done[name], settings)):
            log.info("%s: already verified (%.2f%%)", name, done[name]["measured_acc"])
            continue
        result = verify_candidate(supernet, record, data, qconfig, vconfig, seed)
        if name == "joint":
            result = _keep_winner(run_dir, supernet, result, qconfig, settings)
        result.pop(MODEL, None)
        done[name] = result
        log.info("%s: predicted %.2f%%, measured %.2f%% on %d test images", name, record["predicted_acc"],
                 done[name]["measured_acc"], done[name]["test_images"])
        write_partial(run_dir, settings, done)
    report = _report(best, done, todo, settings)
    write_json(run_dir / REPORT, report)
    write_stamp(run_dir / REPORT, stamp)
    (run_dir / PARTIAL).unlink(missing_ok=True)
    return report


def _report(best: dict, done: dict, todo: list, settings: dict) -> dict:
    joint = done["joint"]
    report = {"run": best.get("run"), "space": best.get("space"), "target": best.get("target"),
              "constraint": best["constraint"], **joint,
              "abs_error": abs(joint["predicted_acc"] - joint["measured_acc"])}
    report["baselines"] = {name: {**done[name], "abs_error": abs(done[name]["predicted_acc"] - done[name]["measured_acc"]),
                                  **paired(joint, done[name])}
                           for name, _ in todo if name != "joint"}
    missing = [name for name, rec in best.get("baselines", {}).items() if rec.get("predicted_acc") is None]
    if missing:
        report["not_verified"] = {name: best["baselines"][name].get("reason", "no feasible winner") for name in missing}
    report["settings"] = settings
    return report


def correctness(result: dict) -> np.ndarray | None:
    """A verified candidate's (test_images,) bool per-image correctness, or None if not recorded."""
    if "correct_b64" not in result:
        return None
    return unpack_correct(result["correct_b64"], result["test_images"])


def paired(joint: dict, baseline: dict) -> dict:
    """``{"paired": ...}``: the joint winner against one baseline winner on the same test images
    (:func:`paired_comparison`, joint minus baseline), or {} when either lacks per-image results."""
    a, b = correctness(joint), correctness(baseline)
    if a is None or b is None or len(a) != len(b):
        return {}
    return {"paired": paired_comparison(a, b)}
