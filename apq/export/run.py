"""``apq export``: the verified joint winner of a run as PyTorch and ONNX, checked on the test split.

    <run>/verify.json + <run>/winner.pt  (written by ``apq verify``)
      [+ <run>/finetuned.pt + finetune.json (``apq finetune``): exported instead when it was made
         from this winner.pt; export.json's ``model`` says which file was taken]
      -> rebuild the fine-tuned fake-quantized sub-net from winner.pt (no supernet)
      -> <out>/model.pt + model.json      (--format torch|all)  reloaded and compared: identical
      -> <out>/model.onnx                 (--format onnx|all)   onnx.checker, then onnxruntime
                                                                vs the PyTorch model on test images
      -> <out>/export.json                accuracies, logit differences, tolerance, files

``<out>`` defaults to ``<run>/export/``. Everything is written into a staging folder beside it
and renamed into place only when every file is written and every check passed, so a refused or
failed export leaves no folder (and an older export stays as it was).
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from apq import __version__
from apq.data.tensors import load_splits
from apq.errors import UserError
from apq.export.check import accuracy, compare, torch_logits
from apq.export.torch_module import load_torch_export, write_torch_export
from apq.finetune.run import FINETUNED, REPORT as FINETUNE_REPORT
from apq.io import write_json
from apq.nn.runtime import torch_threads
from apq.presets import Preset
from apq.quant.spec import NORMALIZATION_FORMULA
from apq.quant.winner import WINNER, load_winner
from apq.space.space import SearchSpace
from apq.stages.fresh import digest
from apq.stages.lock import artifact_lock
from apq.stages.staging import staged

log = logging.getLogger(__name__)

EXPORT_DIR = "export"
REPORT = "export.json"
ONNX_FILE = "model.onnx"
FORMATS = {"onnx": ("onnx",), "torch": ("torch",), "all": ("torch", "onnx")}


@dataclass(frozen=True)
class ExportOptions:
    """``formats``: subset of ("torch", "onnx"); ``test_images``: first N images of the official
    test split to check on (0 = all); ``batch``: images per forward pass; ``threads``: torch and
    onnxruntime intra-op threads (0 = their default)."""

    formats: tuple[str, ...] = ("torch", "onnx")
    test_images: int = 0
    batch: int = 250
    threads: int = 0

    def __post_init__(self) -> None:
        if not self.formats or set(self.formats) - {"torch", "onnx"}:
            raise ValueError(f"formats must be a non-empty subset of torch, onnx: {self.formats}")
        if self.test_images < 0 or self.batch < 1 or self.threads < 0:
            raise ValueError("test_images and threads must be >= 0, batch >= 1")


# ----- inputs ------------------------------------------------------------------------------
def verified_winner(run_dir: Path) -> tuple[nn.Module, dict, dict]:
    """(fake-quantized winner, winner.pt payload, verify.json) of a run; :class:`UserError` when the
    run was not verified, or was verified for another winner or before models were kept."""
    report_path = run_dir / "verify.json"
    if not report_path.is_file():
        raise UserError(f"run {run_dir} has no verify.json; run 'apq verify {run_dir}' first")
    report = json.loads(report_path.read_text())
    best = json.loads((run_dir / "best.json").read_text())
    if report.get("genome") != best.get("genome"):
        raise UserError(f"{report_path} verified another winner than {run_dir / 'best.json'}; "
                        f"rerun 'apq verify {run_dir}'")
    path = run_dir / (report.get("winner_file") or WINNER)
    if not path.is_file():
        raise UserError(f"run {run_dir} has no fine-tuned model ({path.name}; verified before models were kept); "
                        f"rerun 'apq verify {run_dir}'")
    model, payload = load_winner(path)
    if payload["meta"].get("genome") != report["genome"] or payload["meta"].get("settings") != report.get("settings"):
        raise UserError(f"{path} does not belong to {report_path} (another genome or settings); "
                        f"rerun 'apq verify {run_dir}'")
    return model, payload, report


def model_to_export(run_dir: Path) -> tuple[nn.Module, dict, dict, dict]:
    """(model, its payload, verify.json, which): the fine-tuned model of ``apq finetune`` when it was
    made from the run's current winner.pt, else the verified winner. ``which`` names the file taken
    (``file``, ``source``: "finetune" or "verify", the test accuracy it measured, and why)."""
    model, payload, report = verified_winner(run_dir)
    winner_file = report.get("winner_file") or WINNER
    which = {"file": winner_file, "source": "verify", "test_acc": report.get("measured_acc")}
    tuned = run_dir / FINETUNED
    if not tuned.is_file():
        return model, payload, report, {**which, "why": f"no {FINETUNED} (run 'apq finetune' to make one)"}
    tuned_model, tuned_payload = load_winner(tuned)
    meta = tuned_payload["meta"]
    if meta.get("winner_digest") != digest(run_dir / winner_file) or meta.get("genome") != report["genome"]:
        log.warning("%s was fine-tuned from another %s; exporting the verified winner (rerun 'apq finetune')",
                    tuned, winner_file)
        return model, payload, report, {**which, "why": f"{FINETUNED} belongs to another {winner_file}"}
    finetune_report = run_dir / FINETUNE_REPORT
    before = json.loads(finetune_report.read_text()).get("acc_before") if finetune_report.is_file() else None
    return tuned_model, tuned_payload, report, {"file": FINETUNED, "source": "finetune",
                                                "test_acc": meta.get("measured_acc"), "acc_before": before,
                                                "why": f"fine-tuned from this run's {winner_file}"}


def run_preset(run_dir: Path) -> Preset:
    """The preset a run was made with (its splits and normalisation)."""
    config = json.loads((run_dir / "config.json").read_text())
    try:
        return Preset(**config["preset"])
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{run_dir / 'config.json'} has no usable preset ({err}); rerun 'apq search'") from None


def test_split(space: SearchSpace, preset: Preset, data_dir, images: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """The first ``images`` (0 = all) of the official test split, normalised as the run's training
    data: float32 (N, C, H, W), int64 (N,), and the normalisation (mean/std per channel)."""
    splits = load_splits(space, preset, data_dir)
    count = len(splits.test_x) if not images else min(images, len(splits.test_x))
    norm = {"mean": splits.mean.tolist(), "std": splits.std.tolist(), "formula": NORMALIZATION_FORMULA,
            "dataset": space.config.dataset, "val_size": len(splits.val_idx), "split_seed": preset.seed}
    return splits.test_x[:count], splits.test_y[:count], norm


# ----- outputs -----------------------------------------------------------------------------
@contextmanager
def staged_folder(final: Path):
    """Yield an empty staging folder; on success it replaces ``final`` (an earlier export) at once."""
    if final.exists() and (not final.is_dir() or any(final.iterdir()) and not (final / REPORT).is_file()):
        raise UserError(f"{final} exists and is not an apq export folder; pick another -o")
    with staged(final, folder=True) as staging:
        yield staging


def check_torch_reload(folder: Path, model: nn.Module, x: np.ndarray) -> dict:
    """Reload model.pt/model.json as a user would and compare logits on ``x`` with ``model``."""
    reloaded = load_torch_export(folder)
    a, b = torch_logits(model, x, len(x)), torch_logits(reloaded, x, len(x))
    result = {"images": len(x), "identical": bool(np.array_equal(a, b)), "max_abs_diff": float(np.abs(a - b).max())}
    if not result["identical"]:
        raise RuntimeError(f"model.pt reloaded into the rebuilt module differs from the winner: {result}")
    return result


def export_onnx(folder: Path, model: nn.Module, spec: dict, x: np.ndarray, y: np.ndarray,
                options: ExportOptions) -> dict:
    """Write model.onnx (checked by onnx.checker) and compare it with ``model`` on (x, y)."""
    import onnx  # optional (the "export" extra), as is apq.export.onnx_graph that needs it

    from apq.export.onnx_graph import OPSET, subnet_graph

    graph = subnet_graph(model, spec)
    onnx.checker.check_model(graph, full_check=True)
    data = graph.SerializeToString()
    (folder / ONNX_FILE).write_bytes(data)
    result = compare(model, data, x, y, options.batch, options.threads)
    if not result["ok"]:
        raise RuntimeError(f"the ONNX export does not reproduce the fake-quantized model: {result}")
    return {"opset": OPSET, **result}


def export_run(run_dir: Path, space: SearchSpace, out_dir: Path | None = None, options: ExportOptions = ExportOptions(),
               data_dir=None) -> tuple[Path, dict]:
    """Export the verified joint winner of ``run_dir``; returns (export folder, export.json)."""
    started = time.perf_counter()
    model, payload, verify, which = model_to_export(run_dir)
    log.info("exporting %s (%s)", which["file"], which["why"])
    if payload["spec"]["space"] != space.name:
        raise UserError(f"run {run_dir} holds a winner of space '{payload['spec']['space']}', not '{space.name}'; "
                        f"pass --space {payload['spec']['space']}")
    x, y, norm = test_split(space, run_preset(run_dir), data_dir, options.test_images)
    spec = {**payload["spec"], "normalization": norm, "run": verify.get("run"), "target": verify.get("target"),
            "verified": {k: verify.get(k) for k in ("measured_acc", "test_images", "predicted_acc", "latency_ms",
                                                     "energy_mj", "bitops")}, "model_file": which}
    final = out_dir or run_dir / EXPORT_DIR
    report = {"apq_version": __version__, "run": str(run_dir), "space": space.name, "genome": spec["genome"],
              "arch": spec["arch"], "model": which, "formats": list(options.formats),
              "test_split": f"official test split, first {len(x)} images", "test_images": len(x)}
    with artifact_lock(final), torch_threads(options.threads), staged_folder(final) as folder:
        files = []
        if "torch" in options.formats:
            files += write_torch_export(folder, model, spec)
            report["torch_reload"] = check_torch_reload(folder, model, x[:options.batch])
        if "onnx" in options.formats:
            report["onnx"] = export_onnx(folder, model, spec, x, y, options)
            files.append(ONNX_FILE)
            report["fake_quant_acc"] = report["onnx"]["fake_quant_acc"]
        else:
            report["fake_quant_acc"] = accuracy(torch_logits(model, x, options.batch), y)
        report["files"] = files
        report["seconds"] = round(time.perf_counter() - started, 2)
        write_json(folder / REPORT, report)
    log.info("exported %s to %s", spec["arch"], final)
    return final, report
