"""bench/search.py --before: another commit's run of the benchmark read and kept beside this one's."""
import importlib.util
import json
import sys

import pytest

from tests.helpers.cli import PROJECT

spec = importlib.util.spec_from_file_location("search_bench", PROJECT / "bench" / "search.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["search_bench"] = bench
spec.loader.exec_module(bench)


def test_an_earlier_run_keeps_its_stamp_and_each_case_throughput(tmp_path):
    rate = {"median": 48000.0, "min": 45000.0, "max": 50000.0, "runs": 9}
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"cases": [{"space": "fmnist", "target": "fpga", "candidates_per_s": rate}],
                                "recorded": {"commit": "545470350010"}}))
    assert bench.earlier_run(str(path)) == {"recorded": {"commit": "545470350010"},
                                            "candidates_per_s": {"fmnist/fpga": rate}}


@pytest.mark.parametrize("text", [None, "{}", "not json", '{"cases": [{"space": "fmnist"}]}'])
def test_anything_else_is_refused_in_one_line(tmp_path, text):
    path = tmp_path / "search.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match="not a JSON of this benchmark"):
        bench.earlier_run(str(path))
