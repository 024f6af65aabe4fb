"""The stage layer: the stage table and ``apq run``'s command lines, the one freshness check,
per-artifact locks across real processes, refusal of another preset's artifacts, the staged
write and the ``latest`` pointer without symlinks."""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from apq.errors import UserError
from apq.stages import fresh
from apq.stages.fresh import FRESH, INCOMPLETE, MISSING, REPLACE, STALE, Stamp, freshness
from apq.stages.lock import artifact_lock, lock_holder
from apq.stages.staging import staged
from apq.stages.table import BY_NAME, STAGES, RunOptions, command_line, plan
from tests.helpers.cli import PROJECT, apq, assert_user_error


# ----- the table and apq run's command lines -------------------------------------------------
def test_plan_runs_upstream_first_and_verifies_every_search():
    assert [s.name for s in plan("predictor")] == ["data", "supernet", "samples_fp32", "samples_quant", "predictor"]
    assert [s.name for s in plan("search")][-2:] == ["search", "verify"]
    assert "supernet" in BY_NAME["search"].upstream  # re-ranking measures candidates on it
    assert [s.name for s in plan("samples")] == ["data", "supernet", "samples_fp32", "samples_quant"]
    for stage in STAGES:  # the table is ordered: every upstream stage comes earlier
        assert all(STAGES.index(BY_NAME[up]) < STAGES.index(stage) for up in stage.upstream)


def test_every_stage_command_line_parses_with_the_real_parser():
    from apq.commands.parser import parse_steps

    options = RunOptions(space="fmnist", preset="smoke", target="fpga", data_dir="/d", latency="2.5", run="r1",
                         sets=("search.population=20",), extra={"search": ["--baselines"], "samples": ["--jobs", "2"]})
    lines = [command_line(stage, options) for stage in STAGES]
    steps = dict(zip((s.name for s in STAGES), parse_steps(lines)))
    assert steps["samples_quant"].quant and steps["samples_quant"].jobs == 2 and steps["samples_fp32"].data_dir == "/d"
    assert steps["search"].run_name == "r1" and steps["search"].baselines and steps["search"].latency == 2.5
    assert steps["search"].data_dir == "/d"  # the search measures its shortlists on the validation split
    assert steps["verify"].run_name == "r1" and steps["export"].run_name == "r1" and steps["verify"].preset == "smoke"
    assert steps["supernet"].settings == steps["search"].settings == ["search.population=20"]


def test_set_and_config_are_forwarded_verbatim_to_every_stage_with_settings():
    options = RunOptions(sets=("search.population=200", "supernet.epochs=1"), config="run.toml", target="fpga")
    for stage in STAGES:
        words = command_line(stage, options)
        forwarded = stage.name not in ("data", "export")
        assert ("--set" in words and "search.population=200" in words and words[-2:] == ["--config", "run.toml"]) \
            == forwarded, stage.name


@pytest.mark.parametrize("setting,words", [("search.population=abc", ["search.population", "abc"]),
                                           ("nosuch.key=1", ["nosuch.key"])])
def test_apq_run_refuses_a_bad_setting_before_any_stage_runs(tmp_path, setting, words):
    result = apq("run", "search", "--target", "fpga", "--preset", "smoke", "--set", setting, root=tmp_path)
    assert_user_error(result, *words)
    assert list(tmp_path.iterdir()) == []


def test_apq_run_needs_a_target_for_search_and_checks_args(tmp_path):
    assert_user_error(apq("run", "search", "--preset", "smoke", root=tmp_path), "--target")
    assert_user_error(apq("run", "predictor", "--args", "nosuch=--x", root=tmp_path), "--args")
    assert apq("run", "nosuch", root=tmp_path).returncode == 2


def test_run_and_chain_do_not_import_the_cli():
    code = "import sys, apq.commands.run, apq.commands.chain; assert 'apq.cli' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


# ----- the one freshness check ---------------------------------------------------------------
def _stamp(**changes):
    fields = {"stage": "supernet", "format": "f/1", "settings": {"epochs": 2}, "shared": {"preset": {"name": "smoke"}},
              "upstream": {"in.pt": "aa"}}
    return Stamp(**{**fields, **changes})


def test_fingerprint_is_stable_and_covers_every_field():
    base = _stamp()
    assert base.fingerprint == _stamp().fingerprint == Stamp(**json.loads(json.dumps(
        {k: v for k, v in base.to_dict().items() if k != "fingerprint"}))).fingerprint
    others = [_stamp(settings={"epochs": 3}), _stamp(shared={"preset": {"name": "default"}}),
              _stamp(upstream={"in.pt": "bb"}), _stamp(format="f/2")]
    assert len({base.fingerprint, *(o.fingerprint for o in others)}) == 5


def test_freshness_verdicts(tmp_path, caplog):
    out = tmp_path / "a.pt"
    want = _stamp()
    assert freshness(want, None, [out], command="apq x") == MISSING
    out.write_text("x")
    assert freshness(want, want.to_dict(), [out], command="apq x") == FRESH
    assert freshness(want, want.to_dict(), [out, tmp_path / "b.json"], command="apq x") == INCOMPLETE
    assert freshness(want, _stamp(upstream={"in.pt": "bb"}).to_dict(), [out], command="apq x") == STALE
    assert "in.pt changed" in caplog.text
    assert freshness(want, want.to_dict(), [out], command="apq x", force=True) == REPLACE
    other = _stamp(shared={"preset": {"name": "default"}}).to_dict()
    with pytest.raises(UserError, match=r"preset.name='default' \(this run: 'smoke'\).*'apq x --force'"):
        freshness(want, other, [out], command="apq x")
    with pytest.raises(UserError, match="no stamp"):
        freshness(want, None, [out], command="apq x")
    assert freshness(want, other, [out], command="apq x", replaceable=True) == REPLACE


def test_digest_follows_the_file_content(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"one")
    first = fresh.digest(path)
    time.sleep(0.01)
    path.write_bytes(b"two")
    assert fresh.digest(path) != first and len(first) == 16


# ----- staged writes and the latest pointer --------------------------------------------------
def test_staged_folder_replaces_whole_or_not_at_all(tmp_path):
    final = tmp_path / "out"
    with staged(final, folder=True) as folder:
        (folder / "a.txt").write_text("1")
    assert (final / "a.txt").read_text() == "1"
    with pytest.raises(RuntimeError), staged(final, folder=True) as folder:
        (folder / "b.txt").write_text("2")
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not (final / "b.txt").exists()
    with staged(final, folder=True) as folder:
        (folder / "c.txt").write_text("3")
    assert sorted(p.name for p in final.iterdir()) == ["c.txt"]


def test_latest_is_a_text_file_where_symlinks_cannot_be_made(tmp_path, monkeypatch):
    from apq.search import outputs

    def refuse(*args, **kwargs):
        raise OSError(1, "symbolic link privilege not held")

    real = os.symlink
    monkeypatch.setattr(os, "symlink", refuse)
    for name in ("r1", "r2"):
        with outputs.staged_run_dir(outputs.new_run_dir("fmnist", "fpga", name)) as staging:
            (staging / "best.json").write_text("{}")
    latest = tmp_path / "results/fmnist/fpga/latest"
    assert latest.is_file() and not latest.is_symlink() and latest.read_text().strip() == "r2"
    assert outputs.resolve_run_dir("fmnist", "fpga", None) == (tmp_path / "results/fmnist/fpga/r2").resolve()
    assert outputs.latest_run(latest.parent) == latest.parent / "r2"
    monkeypatch.setattr(os, "symlink", real)  # symlinks allowed again: the text file gives way to a link
    with outputs.staged_run_dir(outputs.new_run_dir("fmnist", "fpga", "r3")) as staging:
        (staging / "best.json").write_text("{}")
    assert os.readlink(latest) == "r3"


def test_verify_and_export_find_the_latest_run_through_a_text_file(tmp_path):
    folder = tmp_path / "results/fmnist/fpga"
    (folder / "r1").mkdir(parents=True)
    (folder / "r1/best.json").write_text("{}")
    (folder / "r1/config.json").write_text(json.dumps({"space": "fmnist"}))
    (folder / "latest").write_text("r1\n")
    result = apq("export", "--target", "fpga", root=tmp_path)  # finds r1, then stops: it was never verified
    assert_user_error(result, "r1", "no verify.json")


# ----- locks: two real processes -------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import h5py
    from apq.stages.lock import artifact_lock
    path = Path(sys.argv[1])
    with artifact_lock(path), h5py.File(path, "a"):  # as 'apq samples' holds a file it is filling
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


@pytest.fixture
def held_samples(root):
    """A second process holding data/fmnist/samples_fp32.h5 (made by a smoke run) open and locked."""
    assert apq("samples", "--preset", "smoke", "--n", "1", "--jobs", "1", root=root).returncode == 0
    path = root / "data/fmnist/samples_fp32.h5"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "60"], env=env, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "locked"
    yield path, holder
    holder.kill()
    holder.wait()


@pytest.fixture
def root(tmp_path, smoke_supernet):
    import shutil

    target = tmp_path / "data/fmnist/supernet.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(smoke_supernet, target)
    return tmp_path


def test_a_second_writer_is_told_to_wait_and_the_file_survives(held_samples, root):
    path, holder = held_samples
    size = path.stat().st_size
    assert lock_holder(path) == holder.pid
    result = apq("samples", "--preset", "smoke", "--n", "3", "--jobs", "1", root=root)
    assert_user_error(result, f"another apq process (pid {holder.pid}) is writing", "samples_fp32.h5", "wait for it")
    assert path.stat().st_size == size and "delete" not in result.stderr


def test_a_reader_is_told_to_wait_not_to_delete(held_samples, root):
    from apq.samples.store import read_samples

    path, holder = held_samples
    with pytest.raises(UserError, match=rf"another apq process \(pid {holder.pid}\) is writing .*wait for it"):
        read_samples(path)


def test_the_lock_is_released_with_its_holder(tmp_path):
    path = tmp_path / "a.pt"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    code = "import sys, os; from apq.stages.lock import artifact_lock\nwith artifact_lock(sys.argv[1]): os._exit(0)"
    assert subprocess.run([sys.executable, "-c", code, str(path)], env=env).returncode == 0  # died holding it
    assert lock_holder(path) is None
    with artifact_lock(path), artifact_lock(path):  # free again, and re-entrant in one process
        assert lock_holder(path) is None


# ----- another preset's artifacts are refused, not replaced ----------------------------------
def _stamped_default_supernet(root):
    """A supernet.pt stamped as made by the default preset (random weights, real format)."""
    from apq.presets import get_preset
    from apq.space.registry import create_space
    from apq.stages.fresh import write_stamp
    from apq.supernet import checkpoint as ckpt
    from apq.supernet.config import get_supernet_config

    space = create_space("fmnist")
    out = root / "data/fmnist/supernet.pt"
    meta = ckpt.make_meta(space, get_supernet_config("default"), get_preset("default"))
    payload = ckpt.read(out, ckpt.FORMAT)
    ckpt.write(out, {**payload, "meta": meta})
    out.with_suffix(".json").write_text(json.dumps(meta))
    write_stamp(out, ckpt.stamp_of(meta))
    return out


def test_supernet_of_another_preset_is_refused_naming_force(root):
    out = _stamped_default_supernet(root)
    before = out.stat().st_mtime_ns
    result = apq("supernet", "--preset", "smoke", root=root)
    assert_user_error(result, "supernet.pt", "'default' (this run: 'smoke')", "apq supernet --force")
    assert out.stat().st_mtime_ns == before and not (root / "data/fmnist/supernet.ckpt.pt").exists()
    assert apq("supernet", "--preset", "default", root=root).stderr.count("up to date") == 1  # its own preset: fresh


def test_apq_run_stops_at_the_first_artifact_of_another_preset(root):
    out = _stamped_default_supernet(root)
    result = apq("run", "predictor", "--preset", "smoke", root=root)
    assert result.returncode == 2 and "apq supernet --force" in result.stderr.strip().splitlines()[-1]
    assert not (root / "data/fmnist/samples_fp32.h5").exists() and out.is_file()


def test_a_supernet_made_before_stamps_is_adopted_when_its_settings_match(root):
    """An upgrade keeps a finished supernet: the settings embedded in it are compared once and stamped."""
    from apq.presets import get_preset
    from apq.space.registry import create_space
    from apq.stages.layout import stamp_path
    from apq.supernet import checkpoint as ckpt
    from apq.supernet.config import get_supernet_config

    out = root / "data/fmnist/supernet.pt"
    out.with_suffix(".json").write_text("{}")
    before = out.stat().st_mtime_ns
    result = apq("supernet", "--preset", "smoke", root=root)
    assert result.returncode == 0 and "stamping it" in result.stderr and "up to date" in result.stderr
    assert out.stat().st_mtime_ns == before and json.loads(stamp_path(out).read_text())["fingerprint"] == \
        ckpt.make_stamp(create_space("fmnist"), get_supernet_config("smoke"), get_preset("smoke")).fingerprint


def test_no_lock_file_is_left_behind(tmp_path):
    with artifact_lock(tmp_path / "a.pt"):
        assert [p.name for p in tmp_path.iterdir()] == [".a.pt.lock"]
    assert list(tmp_path.iterdir()) == []


def test_a_lock_held_only_for_a_moment_is_waited_for(tmp_path):
    """Two searches started together: one holds an artifact's lock only to check it is up to date."""
    path = tmp_path / "a.pt"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    code = ("import sys, time; from apq.stages.lock import artifact_lock\n"
            "with artifact_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(1.0)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with artifact_lock(path, wait=30):
        assert holder.poll() == 0 or holder.wait() == 0
    with pytest.raises(UserError, match="another apq process"):
        holder = subprocess.Popen([sys.executable, "-c", code, str(path)], env=env, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        with artifact_lock(path, wait=0):
            pass
    holder.wait()
