"""Optional extras: a missing one is named with the pip command that installs it, before any work.

The command-line rows (export, dask, ray, image folders) are in tests/test_bad_inputs.py.
"""
import builtins
import sys

import pytest

from apq.cli import main
from apq.errors import UserError
from apq.extras import require_extra


def test_present_modules_are_returned_in_order():
    import json
    import os.path

    assert require_extra(("json", "os.path"), "none", "this test") == [json, os.path]


def test_a_module_blocked_in_sys_modules_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(UserError) as err:
        require_extra(("json", "onnxruntime"), "export", "apq export")
    assert str(err.value) == ("apq export needs the 'export' extra (onnxruntime cannot be imported); "
                              "pip install 'apq-engine[export]'")


def test_a_module_refused_by_the_import_hook_counts_as_missing(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(UserError, match=r"'notebooks' extra \(matplotlib.pyplot .*apq-engine\[notebooks\]"):
        require_extra(("matplotlib.pyplot",), "notebooks", "the notebooks")


def test_export_to_torch_alone_does_not_need_the_export_extra(tmp_path, monkeypatch, capsys):
    """Without onnx, --format torch goes on to its own checks (here: no search run yet)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", "--target", "fpga", "--format", "torch"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("apq: error:") and "extra" not in line
    assert main(["export", "--target", "fpga", "--format", "onnx"]) == 2
    assert "needs the 'export' extra (onnx cannot be imported)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
