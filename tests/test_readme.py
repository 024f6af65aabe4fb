"""The README's Python example runs as written, on the smoke preset, in a fresh APQ_ROOT holding a copy
of the smoke upstream artifacts."""
import re

import pytest

from tests.helpers.cli import PROJECT
from tests.helpers.roots import copy_upstream

README = PROJECT / "README.md"


def python_example(text: str) -> str:
    """The fenced ```python block under the README's "## From Python" heading."""
    section = text.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)
    assert len(blocks) == 1, "the From Python section holds one python block"
    return blocks[0]


def test_the_example_is_found_and_uses_the_default_preset():
    code = python_example(README.read_text())
    assert "import apq" in code and code.count('preset="default"') == 1


@pytest.mark.slow
def test_the_readme_python_example_runs(smoke_upstream, tmp_path, capsys):
    copy_upstream(smoke_upstream, tmp_path)  # the example's own upstream step then finds them fresh
    code = python_example(README.read_text()).replace('preset="default"', 'preset="smoke"')
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    run = namespace["run"]
    assert run.path.parent == (tmp_path / "results/fmnist/fpga").resolve()
    assert run.best["constraint"] == {**run.best["constraint"], "metric": "latency_ms", "limit": 1.5}
    assert run.config["search"]["population"] == 200 and run.verify["genome"] == run.best["genome"]
    assert namespace["latest"] == run
    out = capsys.readouterr().out
    assert f"measured {run.verify['measured_acc']:.2f}%" in out and "candidates evaluated" in out
