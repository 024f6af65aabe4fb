"""docs/results.md is generated from results/bench/*.json: figures, targets, provenance, missing runs."""
import json

from apq.report import BENCHES, main, render, stamp
from tests.conftest import PROJECT


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


def test_committed_page_is_what_the_committed_json_makes(tmp_path):
    """Nobody edits docs/results.md by hand: regenerate it from results/bench/ and compare."""
    out = tmp_path / "results.md"
    assert main(["--bench-dir", str(PROJECT / "results" / "bench"), "--out", str(out)]) == 0
    assert (PROJECT / "docs" / "results.md").read_text() == out.read_text(), \
        "docs/results.md differs from what results/bench/*.json make: run `make report` and commit both"
