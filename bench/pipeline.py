"""Pipeline benchmark: wall time of every stage from a fresh checkout to a verified ``make search``.

    .venv/bin/python bench/pipeline.py [--preset default|smoke] [--root DIR] [--space fmnist]

With APQ_ROOT set to a fresh temporary folder, deleted afterwards (``--root DIR``: that folder
instead, kept, reusing whatever artifacts it already holds, so stages that are up to date take
only their checks), times, in order::

    data, supernet, samples_fp32, samples_quant, predictor, search_fpga, verify_fpga
        each stage of the first ``make search TARGET=fpga`` as its own ``python -m apq``
        subprocess (imports included), so that every stage has its own time
    make_search_bitfusion
        the second search as a user runs it: ``make search TARGET=bitfusion`` (one ``apq run``
        process: upstream checks, all up to date, then search and verification of the winner),
        split into the GA's own seconds and the re-ranking's measurements (config.json), the
        winner's fine-tune + test (verify.json) and the rest (start-up, checks, LUT, loading)

Before the stages it times the fixed reference workload of ``bench/reference.py`` (the fastest
of ``--reference-repeats`` runs) and reports every stage also in its units
(``in_reference_units``: stage seconds / reference seconds), because hosts here differ 2-2.7x in
speed. ``--reference-only`` times just the workload.

Writes ``results/bench/pipeline.json``: seconds per stage, the totals, the command of each stage,
the targets with pass/fail (whole default pipeline to a verified fpga search <= 3600 s; the second
``make search``, on bitfusion, <= 180 s: re-ranking measures each method's shortlist), the verified winners' predicted vs measured accuracy, and
host information. The 3600 s target is for the default preset on a fresh root; other runs record
it but mark it as not applicable.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from apq.io import write_json
from apq.report import bench_arguments
from apq.search.outputs import latest_run
from apq.stages.table import RunOptions, command_line, plan

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import time_reference  # noqa: E402 - bench/reference.py, beside this script

#: The stages upstream of the search, in the order ``apq run search`` runs them.
UPSTREAM = tuple(stage.name for stage in plan("predictor"))

PROJECT = Path(__file__).resolve().parents[1]
TARGETS = {"pipeline_fpga_s": 3600.0, "make_search_bitfusion_s": 180.0}
FIRST_TARGET = "fpga"


def stage_commands(space: str, preset: str) -> dict[str, list[str]]:
    """``apq`` arguments of every stage of the first ``make search`` (``apq run search``), from the
    stage table; the search and verify stages are keyed ``search_fpga`` and ``verify_fpga``."""
    options = RunOptions(space=space, preset=preset, target=FIRST_TARGET)
    return {stage.name + ("" if stage.name in UPSTREAM else f"_{FIRST_TARGET}"): command_line(stage, options)
            for stage in plan("search")}


def make_command(space: str, preset: str, target: str) -> list[str]:
    return ["make", "--no-print-directory", "-C", str(PROJECT), "search", f"TARGET={target}", f"SPACE={space}",
            f"PRESET={preset}"]


def _timed(command: list[str], root: Path, what: str) -> float:
    """Wall seconds of ``command`` with APQ_ROOT=``root`` (its output goes to this terminal)."""
    env = {**os.environ, "APQ_ROOT": str(root), "PYTHONPATH": str(PROJECT)}
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=root, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise StageFailed(f"'{what}' exited {result.returncode} after {seconds:.1f} s")
    return seconds


def run_stage(args: list[str], root: Path) -> float:
    """Wall seconds of ``python -m apq ARGS`` in ``root``."""
    return _timed([sys.executable, "-m", "apq", *args], root, "apq " + " ".join(args))


class StageFailed(RuntimeError):
    """A stage exited non-zero; the report is written with what was timed so far."""


def run_pipeline(commands: dict[str, list[str]], make_second: list[str], root: Path, seconds: dict) -> None:
    """Time every stage into ``seconds`` (filled as it goes, so a failure keeps the finished ones)."""
    for name in commands:
        print(f"== {name}: apq {' '.join(commands[name])}", file=sys.stderr, flush=True)
        seconds[name] = run_stage(commands[name], root)
    print(f"== make_search_bitfusion: {' '.join(make_second)}", file=sys.stderr, flush=True)
    seconds["make_search_bitfusion"] = _timed(make_second, root, " ".join(make_second))


def second_search_parts(root: Path, space: str, total: float | None) -> dict:
    """The second make search split into the GA, the re-ranking's measurements, the winner's
    verification and the rest: start-up, checks, LUT, loading (seconds)."""
    run = latest_run(root / "results" / space / "bitfusion")
    if total is None or not (run / "verify.json").is_file():
        return {}
    config = json.loads((run / "config.json").read_text())
    parts = {"ga_search_s": config.get("search_seconds"), "rerank_s": config.get("rerank", {}).get("seconds", 0.0),
             "verify_winner_s": json.loads((run / "verify.json").read_text()).get("seconds")}
    if None not in parts.values():
        parts["startup_checks_lut_loading_s"] = round(total - sum(parts.values()), 2)
    return parts


def totals(seconds: dict) -> dict:
    first = [seconds.get(name) for name in (*UPSTREAM, f"search_{FIRST_TARGET}", f"verify_{FIRST_TARGET}")]
    return {"pipeline_fpga_s": None if None in first else sum(first),
            "make_search_bitfusion_s": seconds.get("make_search_bitfusion"), "all_s": sum(seconds.values())}


def judge(total: dict, preset: str, fresh: bool) -> dict:
    """Each target: measured seconds, limit, pass (None when not measured)."""
    out = {}
    for name, limit in TARGETS.items():
        value = total[name]
        out[name] = {"seconds": None if value is None else round(value, 2), "limit_s": limit,
                     "pass": None if value is None else bool(value <= limit)}
    out["pipeline_fpga_s"]["applies"] = preset == "default" and fresh
    out["pipeline_fpga_s"]["what"] = "fresh root to a verified 'make search TARGET=fpga', default preset"
    out["make_search_bitfusion_s"]["applies"] = True
    out["make_search_bitfusion_s"]["what"] = ("second 'make search TARGET=bitfusion' as a user runs it: upstream "
                                              "checks (all up to date), search, verification of the winner")
    return out


def winners(root: Path, space: str) -> dict:
    """Predicted vs measured accuracy of each target's verified joint winner."""
    out = {}
    for target in ("fpga", "bitfusion"):
        path = latest_run(root / "results" / space / target) / "verify.json"
        if path.is_file():
            report = json.loads(path.read_text())
            out[target] = {k: report.get(k) for k in ("run", "predicted_acc", "measured_acc", "abs_error",
                                                      "latency_ms", "energy_mj", "constraint")}
    return out


def host() -> dict:
    import torch

    return {"node": platform.node(), "cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(), "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()]}


@contextmanager
def bench_root(path: str | None):
    """(root, fresh): ``path`` (kept; fresh when empty) or a new temporary folder (deleted)."""
    if path:
        root = Path(path).resolve()
        root.mkdir(parents=True, exist_ok=True)
        yield root, not any(root.iterdir())
        return
    with tempfile.TemporaryDirectory(prefix="apq-bench-pipeline-") as tmp:
        yield Path(tmp), True


def in_reference_units(seconds: dict, reference_s: float) -> dict:
    """Every stage's seconds divided by the reference workload's (2 decimals)."""
    return {name: round(value / reference_s, 2) for name, value in seconds.items()}


def main() -> int:
    parser = bench_arguments(__doc__, "pipeline")
    parser.add_argument("--preset", default="default", choices=("default", "smoke"))
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--root", help="APQ_ROOT to run in and keep (default: a fresh temporary one)")
    parser.add_argument("--reference-repeats", type=int, default=3, help="reference runs; the fastest counts")
    parser.add_argument("--reference-only", action="store_true", help="time only the reference workload")
    args = parser.parse_args()
    info = host()
    reference = time_reference(args.reference_repeats)
    if args.reference_only:
        print(json.dumps(reference))
        return 0
    commands = stage_commands(args.space, args.preset)
    make_second = make_command(args.space, args.preset, "bitfusion")
    seconds, error = {}, None
    with bench_root(args.root) as (root, fresh):
        try:
            run_pipeline(commands, make_second, root, seconds)
        except StageFailed as err:
            error = str(err)
        found = winners(root, args.space)
        total = totals(seconds)
        parts = second_search_parts(root, args.space, total["make_search_bitfusion_s"])
    report = {"space": args.space, "preset": args.preset, "root": str(root) if args.root else "temporary",
              "fresh_root": fresh, "seconds": {k: round(v, 2) for k, v in seconds.items()},
              "reference": reference, "in_reference_units": in_reference_units(seconds, reference["seconds"]),
              "totals": {k: None if v is None else round(v, 2) for k, v in total.items()},
              "make_search_bitfusion_parts": parts,
              "targets": judge(total, args.preset, fresh), "winners": found, "error": error,
              "commands": {**{k: "apq " + " ".join(v) for k, v in commands.items()},
                           "make_search_bitfusion": " ".join(make_second)},
              "host": info, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(args.out, report)
    print(json.dumps({"seconds": report["seconds"], "totals": report["totals"], "targets": report["targets"]},
                     indent=1))
    print(args.out)
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
