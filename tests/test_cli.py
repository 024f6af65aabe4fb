"""The command line: help, error paths (one line, exit 2, nothing written) and `apq lut`/`apq space`."""
import json
from pathlib import Path

import pytest

from apq.hardware.apq_format import parse_key
from apq.space.registry import create_space

from tests.helpers.cli import apq, assert_user_error


def test_help_lists_subcommands(tmp_path):
    result = apq("--help", root=tmp_path)
    assert result.returncode == 0
    for command in ("data", "space", "lut"):
        assert command in result.stdout


@pytest.mark.parametrize("args,words", [
    (["lut", "--space", "fmnist", "--target", "fpga", "--format", "csv"], ["format"]),
    (["space", "--sample", "-3"], ["--sample"]),
    (["space", "--sample", "many"], ["--sample"]),
    (["frobnicate"], ["frobnicate"]),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, words):
    """Bad flag values; unknown names and bad files are rows of tests/test_bad_inputs.py."""
    assert_user_error(apq(*args, root=tmp_path), *words)


def test_lut_apq_format_covers_every_shape_and_bit_pair(tmp_path):
    result = apq("lut", "--space", "fmnist", "--target", "fpga", "--format", "apq", root=tmp_path)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == tmp_path / "data" / "fmnist" / "lut" / "fpga.apq.json"
    table = json.loads(path.read_text())
    keys = [parse_key(k) for k in table if k not in ("head", "tail")]
    pairs = {(w, a) for *_, w, a in keys}
    assert pairs == {(w, a) for w in (2, 4, 6, 8) for a in (2, 4, 6, 8)}
    shapes = {k[:6] for k in keys}
    assert len(keys) == 16 * len(shapes)
    space = create_space("fmnist")
    assert len(shapes) == sum(len(m) * (2 + len(space.kernel_choices)) for m in space.mid_choices) - _shared(space)
    assert {"head", "tail"} <= set(table)


def _shared(space):
    """Blocks of one stage after the first share shapes; count the duplicates."""
    seen, dup = set(), 0
    for b, mids in zip(space.blocks, space.mid_choices):
        for m in mids:
            for shape in [(b.cin, m, b.in_size, 1), (m, b.cout, b.out_size, 1)] + [
                    (m, m, b.in_size, k, b.stride) for k in space.kernel_choices]:
                dup += shape in seen
                seen.add(shape)
    return dup


def test_lut_own_format_loads_back_as_target(tmp_path):
    result = apq("lut", "--space", "fmnist", "--target", "bitfusion", root=tmp_path)
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    sampled = apq("space", "--space", "fmnist", "--sample", "3", "--target", path, root=tmp_path)
    direct = apq("space", "--space", "fmnist", "--sample", "3", "--target", "bitfusion", root=tmp_path)
    assert sampled.returncode == 0 and direct.returncode == 0, sampled.stderr + direct.stderr
    rows_a = [json.loads(l) for l in sampled.stdout.splitlines()]
    rows_b = [json.loads(l) for l in direct.stdout.splitlines()]
    for a, b in zip(rows_a, rows_b):
        assert a["genome"] == b["genome"]
        assert a["latency_ms"] == pytest.approx(b["latency_ms"], rel=1e-12)


def test_space_summary(tmp_path):
    result = apq("space", "--space", "imagenet-apq", root=tmp_path)
    summary = json.loads(result.stdout)
    assert summary["encoding_dim"] == 772 and summary["fp32_dim"] == 520


def test_apq_format_written_for_bitfusion_omits_forbidden_and_loads_back_with_rule(tmp_path):
    result = apq("lut", "--space", "fmnist", "--target", "bitfusion", "--format", "apq", root=tmp_path)
    assert result.returncode == 0, result.stderr
    table = json.loads(Path(result.stdout.strip()).read_text())
    dw7_a4 = [k for k in table if k not in ("head", "tail") and parse_key(k)[3] == 7 and parse_key(k)[7] == 4]
    assert dw7_a4 == []
    from apq.hardware.lut import load_lut_target
    rules = load_lut_target(result.stdout.strip()).forbidden
    assert [(r.gene_a, r.value_a, r.gene_b, r.value_b) for r in rules] == [("kernel", 7, "dw_a", 4)]


def test_chain_runs_each_line_in_order_in_one_process(tmp_path):
    result = apq("chain", "lut --space fmnist --target fpga", "lut --space fmnist --target bitfusion --format apq",
                 root=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "data/fmnist/lut/fpga.json"),
                                     str(tmp_path / "data/fmnist/lut/bitfusion.apq.json")]
    assert result.stderr.count("chain step") == 2


@pytest.mark.parametrize("bad_line,words", [("lut --target fpga --format csv", ["format"]),
                                            ("chain lut", ["chain lut"]), ("", ["cannot be a step"])])
def test_chain_refuses_a_bad_line_before_anything_runs(tmp_path, bad_line, words):
    result = apq("chain", "lut --space fmnist --target bitfusion", bad_line, root=tmp_path)
    assert_user_error(result, *words)
    assert not (tmp_path / "data").exists()


def test_chain_stops_at_the_first_failing_step(tmp_path):
    result = apq("chain", "space --space fmnist", "lut --target nowhere-9", "lut --space fmnist --target fpga",
                 root=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("apq: error: unknown target 'nowhere-9'")
    assert "chain step 3/3" not in result.stderr and not (tmp_path / "data" / "fmnist" / "lut").exists()
