"""Pipeline benchmark: wall time of every stage from a fresh checkout to a verified ``make search``.

    .venv/bin/python bench/pipeline.py [--preset default|smoke] [--root DIR] [--space fmnist]

Runs, as ``make search TARGET=fpga`` then ``make search TARGET=bitfusion`` would, each stage as a
``python -m apq`` subprocess (imports included) with APQ_ROOT set to a fresh temporary folder,
deleted afterwards (``--root DIR``: that folder instead, kept, reusing whatever artifacts it
already holds, so stages that are up to date take only their checks). Timed, in order::

    data, supernet, samples_fp32, samples_quant, predictor, search_fpga, verify_fpga   (first make search)
    upstream_noop (data .. predictor again, all up to date), search_bitfusion, verify_bitfusion   (second)

Writes ``results/bench/pipeline.json``: seconds per stage, the totals, the command of each stage,
the targets with pass/fail (whole default pipeline to a verified fpga search <= 3600 s; the second
``make search``, on bitfusion, <= 30 s, judged both as make runs it, upstream checks + search +
verify, and for the search step alone), the
verified winners' predicted vs measured accuracy, and host information. The 3600 s target is for
the default preset on a fresh root; other runs record it but mark it as not applicable.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from apq.io import project_root, write_json

PROJECT = Path(__file__).resolve().parents[1]
TARGETS = {"pipeline_fpga_s": 3600.0, "make_search_bitfusion_s": 30.0, "search_bitfusion_s": 30.0}
UPSTREAM = ("data", "supernet", "samples_fp32", "samples_quant", "predictor")


def stage_commands(space: str, preset: str) -> dict[str, list[str]]:
    """``apq`` arguments of every stage, as the Makefile's targets run them."""
    common = ["--space", space, "--preset", preset]
    commands = {"data": ["data"], "supernet": ["supernet", *common], "samples_fp32": ["samples", *common],
                "samples_quant": ["samples", *common, "--quant"], "predictor": ["predictor", *common]}
    for target in ("fpga", "bitfusion"):
        commands[f"search_{target}"] = ["search", *common, "--target", target]
        commands[f"verify_{target}"] = ["verify", *common, "--target", target]
    return commands


def run_stage(args: list[str], root: Path) -> float:
    """Wall seconds of ``python -m apq ARGS`` in ``root`` (its output goes to this terminal)."""
    env = {**os.environ, "APQ_ROOT": str(root), "PYTHONPATH": str(PROJECT)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "apq", *args], env=env, cwd=root, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise StageFailed(f"'apq {' '.join(args)}' exited {result.returncode} after {seconds:.1f} s")
    return seconds


class StageFailed(RuntimeError):
    """A stage exited non-zero; the report is written with what was timed so far."""


def run_pipeline(commands: dict[str, list[str]], root: Path, seconds: dict) -> None:
    """Time every stage into ``seconds`` (filled as it goes, so a failure keeps the finished ones)."""
    for name in (*UPSTREAM, "search_fpga", "verify_fpga"):
        print(f"== {name}: apq {' '.join(commands[name])}", file=sys.stderr, flush=True)
        seconds[name] = run_stage(commands[name], root)
    seconds["upstream_noop"] = sum(run_stage(commands[name], root) for name in UPSTREAM)
    for name in ("search_bitfusion", "verify_bitfusion"):
        print(f"== {name}: apq {' '.join(commands[name])}", file=sys.stderr, flush=True)
        seconds[name] = run_stage(commands[name], root)


def totals(seconds: dict) -> dict:
    first = [seconds.get(name) for name in (*UPSTREAM, "search_fpga", "verify_fpga")]
    second = [seconds.get(name) for name in ("upstream_noop", "search_bitfusion", "verify_bitfusion")]
    return {"pipeline_fpga_s": None if None in first else sum(first),
            "make_search_bitfusion_s": None if None in second else sum(second),
            "all_s": sum(seconds.values())}


def judge(seconds: dict, total: dict, preset: str, fresh: bool) -> dict:
    """Each target: measured seconds, limit, pass (None when not measured)."""
    measured = {"pipeline_fpga_s": total["pipeline_fpga_s"], "make_search_bitfusion_s": total["make_search_bitfusion_s"],
                "search_bitfusion_s": seconds.get("search_bitfusion")}
    out = {}
    for name, limit in TARGETS.items():
        value = measured[name]
        out[name] = {"seconds": None if value is None else round(value, 2), "limit_s": limit,
                     "pass": None if value is None else bool(value <= limit)}
    out["pipeline_fpga_s"]["applies"] = preset == "default" and fresh
    out["pipeline_fpga_s"]["what"] = "fresh root to a verified 'make search TARGET=fpga', default preset"
    out["make_search_bitfusion_s"]["applies"] = True
    out["make_search_bitfusion_s"]["what"] = ("second 'make search TARGET=bitfusion' as make runs it: upstream "
                                              "checks (all up to date), search, verify of the winner")
    out["search_bitfusion_s"]["applies"] = True
    out["search_bitfusion_s"]["what"] = "second 'make search TARGET=bitfusion': the search step alone, verify excluded"
    return out


def winners(root: Path, space: str) -> dict:
    """Predicted vs measured accuracy of each target's verified joint winner."""
    out = {}
    for target in ("fpga", "bitfusion"):
        path = root / "results" / space / target / "latest" / "verify.json"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=("default", "smoke"))
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--root", help="APQ_ROOT to run in and keep (default: a fresh temporary one)")
    parser.add_argument("--out", default=str(project_root() / "results" / "bench" / "pipeline.json"))
    args = parser.parse_args()
    commands = stage_commands(args.space, args.preset)
    seconds, error, info = {}, None, host()
    with bench_root(args.root) as (root, fresh):
        try:
            run_pipeline(commands, root, seconds)
        except StageFailed as err:
            error = str(err)
        found = winners(root, args.space)
    total = totals(seconds)
    report = {"space": args.space, "preset": args.preset, "root": str(root) if args.root else "temporary",
              "fresh_root": fresh, "seconds": {k: round(v, 2) for k, v in seconds.items()},
              "totals": {k: None if v is None else round(v, 2) for k, v in total.items()},
              "targets": judge(seconds, total, args.preset, fresh), "winners": found, "error": error,
              "commands": {k: "apq " + " ".join(v) for k, v in commands.items()},
              "upstream_noop_commands": [f"apq {' '.join(commands[k])}" for k in UPSTREAM],
              "host": info, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(args.out, report)
    print(json.dumps({"seconds": report["seconds"], "totals": report["totals"], "targets": report["targets"]},
                     indent=1))
    print(args.out)
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
