"""Run folders and the files of a search run (docs/architecture.md, Artifacts).

``results/<space>/<target>/<run>/`` holds ``config.json``, ``pareto.csv``, ``best.json`` and
``logbook.csv``. A run is written into a hidden staging folder beside it and renamed into place
only when every file is complete (:func:`apq.stages.staging.staged`), so a failed or interrupted
run leaves no run folder; then ``results/<space>/<target>/latest`` is pointed at it (a symlink,
or a text file naming the run where symlinks cannot be made).
"""
from __future__ import annotations

import csv
import math
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from deap import tools

from apq.errors import UserError
from apq.io import atomic_path, write_json
from apq.search.problem import Batch
from apq.search.evolution import LOG_FIELDS
from apq.space.space import SearchSpace
from apq.space.spec import decode, genome_string
from apq.stages.layout import LATEST, results_dir  # noqa: F401 - the run folders' layout, re-exported
from apq.stages.staging import staged

PARETO_FIELDS = ("method", "genome", "arch", "predicted_acc", "latency_ms", "energy_mj", "bitops")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def default_run_name(seed: int) -> str:
    """``YYYYmmdd-HHMMSS-s<seed>`` (local time)."""
    return time.strftime("%Y%m%d-%H%M%S") + f"-s{seed}"


def new_run_dir(space_name: str, target_name: str, run: str) -> Path:
    """Final path of a new run; refuses a bad name or one already taken."""
    if not _RUN_NAME.match(run) or run == LATEST:
        raise UserError(f"bad run name '{run}': use letters, digits, '.', '_' or '-' (not '{LATEST}')")
    path = results_dir(space_name, target_name) / run
    if path.exists():
        raise UserError(f"run {path} already exists; pick another --run name or delete it")
    return path


@contextmanager
def staged_run_dir(final: Path):
    """Yield a staging folder; on success rename it to ``final`` and point ``latest`` at it."""
    with staged(final, folder=True) as staging:
        yield staging
    point_latest(final)


def point_latest(run_dir: Path) -> None:
    """Atomically (re)point ``<run_dir.parent>/latest`` at ``run_dir``: a relative symlink, or where
    symlinks cannot be made (Windows without the right, some network drives) a text file holding
    the run's name, which :func:`latest_run` reads the same way."""
    link = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(run_dir.name, tmp)
    except (OSError, NotImplementedError):
        with staged(link) as text:
            text.write_text(run_dir.name + "\n")
        return
    os.replace(tmp, link)


def latest_run(folder: Path) -> Path:
    """The run ``<folder>/latest`` points at (symlink or text file); ``<folder>/latest`` itself when
    there is none, so callers report it as missing."""
    pointer = folder / LATEST
    if pointer.is_file() and not pointer.is_symlink():
        name = pointer.read_text().strip()
        if _RUN_NAME.match(name):
            return folder / name
    return pointer


def resolve_run_dir(space_name: str, target_name: str, run: str | None) -> Path:
    """A run folder: ``run`` as a path or a run name, or the latest run of the space and target."""
    if run and Path(run).is_dir():
        path = Path(run)
    else:
        folder = results_dir(space_name, target_name)
        path = folder / run if run else latest_run(folder)
    if not (path / "best.json").is_file():
        what = f"run '{run}'" if run else f"no latest run of '{space_name}' on '{target_name}'"
        raise UserError(f"{what} not found under {path.parent} (no best.json); run 'apq search' first")
    return path.resolve()


# ----- records ---------------------------------------------------------------------------
def _number(value: float):
    return float(value) if math.isfinite(value) else None


def candidate_record(space: SearchSpace, row: Batch) -> dict:
    """JSON record of a one-row batch: accuracy, costs, genome, decoded architecture and bits."""
    genome = row.genomes[0]
    spec = decode(space, genome)
    bit_keys = ("pw_w_bits_setting", "pw_a_bits_setting", "dw_w_bits_setting", "dw_a_bits_setting")
    return {"predicted_acc": float(row.acc[0]), "latency_ms": _number(row.latency_ms[0]),
            "energy_mj": _number(row.energy_mj[0]), "bitops": float(row.bitops[0]),
            "genome": genome.tolist(), "arch": genome_string(space, genome),
            "architecture": {k: spec[k] for k in ("d", "ks", "mid_channels", "e")},
            "bit_policy": {k: spec[k] for k in bit_keys}}


def write_pareto_csv(path: Path, space: SearchSpace, fronts: dict[str, Batch]) -> None:
    """One row per front member of each method: genome as space-separated choice indices."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PARETO_FIELDS)
        for method, front in fronts.items():
            for i in range(len(front)):
                genome = front.genomes[i]
                writer.writerow([method, " ".join(map(str, genome.tolist())), genome_string(space, genome),
                                 f"{front.acc[i]:.6g}", f"{front.latency_ms[i]:.6g}",
                                 "" if not np.isfinite(front.energy_mj[i]) else f"{front.energy_mj[i]:.6g}",
                                 f"{front.bitops[i]:.6g}"])


def write_logbook_csv(path: Path, logbooks: dict[str, tools.Logbook]) -> None:
    """Per-generation statistics of every method, long format (a ``method`` column)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("method",) + LOG_FIELDS)
        for method, logbook in logbooks.items():
            for row in logbook:
                writer.writerow([method] + [row[f] for f in LOG_FIELDS])


def best_record(space: SearchSpace, outcome, context: dict) -> dict:
    """``best.json``: the winner under the constraint, and each baseline's winner (or why none).

    After re-ranking each method's record also holds ``val_acc`` (its winner's validation accuracy)
    and ``reranked``: every shortlisted candidate (genome, ``predicted_acc``, ``val_acc``, ``chosen``),
    the predicted winner first."""
    record = {**context, "method": outcome.winner_method, "constraint": outcome.constraint.to_dict(),
              **candidate_record(space, outcome.winner), **_reranked(space, outcome, "joint")}
    record["queries"] = {r.name: r.queries for r in outcome.joint}
    baselines = {}
    for name, result in outcome.baselines.items():
        entry = {**candidate_record(space, result.best), **_reranked(space, outcome, name)} if result.best is not None \
            else {"predicted_acc": None, "reason": f"no candidate within {outcome.constraint.metric} <= "
                                                   f"{outcome.constraint.limit:.6g} found"}
        baselines[name] = {**entry, "queries": result.queries, **result.notes}
    if baselines:
        record["baselines"] = baselines
    return record


def _reranked(space: SearchSpace, outcome, name: str) -> dict:
    """``val_acc`` and ``reranked`` of method ``name`` ({} when it was not re-ranked)."""
    entry = outcome.reranked.get(name)
    if entry is None:
        return {}
    records = entry.records(space)
    return {"val_acc": records[entry.chosen]["val_acc"], "reranked": records}


def write_run(folder: Path, space: SearchSpace, outcome, config: dict, context: dict) -> dict:
    """Write config.json, pareto.csv, best.json and logbook.csv of ``outcome`` into ``folder``."""
    write_json(folder / "config.json", config)
    fronts = {"joint": outcome.front, **{name: r.front for name, r in outcome.baselines.items()}}
    write_pareto_csv(folder / "pareto.csv", space, fronts)
    logbooks = {r.name: r.logbook for r in outcome.joint + list(outcome.baselines.values())}
    write_logbook_csv(folder / "logbook.csv", logbooks)
    best = best_record(space, outcome, context)
    write_json(folder / "best.json", best)
    return best
