import subprocess

import numpy as np
import pytest

from apq.data import fetch, locate
from apq.data.idx import write_idx
from apq.errors import UserError

from tests.helpers.datasets import write_mnist_dir


def test_project_root_is_the_checkout():
    assert (locate.PROJECT_ROOT / "apq" / "data" / "locate.py").is_file()


def test_search_order(isolated, tmp_path, monkeypatch):
    system = isolated["system"] / "fashion-mnist"
    project = isolated["project"] / "fashion-mnist"
    env_dir, explicit = tmp_path / "env", tmp_path / "explicit"
    for d in (system, project, env_dir, explicit):
        write_mnist_dir(d, gzip=d != project)  # the project copy is raw, the others gzip
    assert fetch.locate_fashion_mnist() == project
    monkeypatch.setenv("APQ_DATA_DIR", str(env_dir))
    assert fetch.locate_fashion_mnist() == env_dir
    assert fetch.locate_fashion_mnist(explicit) == explicit
    assert fetch.locate_fashion_mnist(str(explicit)) == explicit
    monkeypatch.delenv("APQ_DATA_DIR")
    for path in project.iterdir():
        path.unlink()
    assert fetch.locate_fashion_mnist() == system


def test_env_dir_may_hold_a_named_subfolder(isolated, tmp_path, monkeypatch):
    write_mnist_dir(tmp_path / "all" / "fashion-mnist")
    monkeypatch.setenv("APQ_DATA_DIR", str(tmp_path / "all"))
    assert fetch.locate_fashion_mnist() == tmp_path / "all" / "fashion-mnist"


def test_env_dir_without_files_falls_through(isolated, tmp_path, monkeypatch):
    write_mnist_dir(isolated["system"] / "fashion-mnist")
    monkeypatch.setenv("APQ_DATA_DIR", str(tmp_path / "empty"))
    assert fetch.locate_fashion_mnist() == isolated["system"] / "fashion-mnist"


def test_explicit_dir_is_strict(isolated, tmp_path):
    write_mnist_dir(isolated["system"] / "fashion-mnist")
    partial = tmp_path / "partial"
    write_mnist_dir(partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match="does not hold the Fashion-MNIST files"):
        fetch.locate_fashion_mnist(partial)


def test_locate_nothing_says_how(isolated):
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        fetch.locate_fashion_mnist()


def no_apt(package):
    raise AssertionError("apt must not run")


def offline(url, dest, timeout):
    raise OSError("Network is unreachable")


def test_ensure_offline_not_root(isolated, monkeypatch):
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 1000)
    with pytest.raises(UserError) as info:
        fetch.ensure_fashion_mnist(apt=no_apt, download=offline)
    message = str(info.value)
    assert "\n" not in message and "Network is unreachable" in message
    for hint in ("apt-get install dataset-fashion-mnist", "data/fashion-mnist/", "APQ_DATA_DIR"):
        assert hint in message
    leftovers = list((isolated["project"] / "fashion-mnist").iterdir())
    assert leftovers == []  # no partial artifact


def test_ensure_returns_existing_without_fetching(isolated, monkeypatch):
    write_mnist_dir(isolated["project"] / "fashion-mnist")
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    assert fetch.ensure_fashion_mnist(apt=no_apt, download=offline) == \
        isolated["project"] / "fashion-mnist"


def test_ensure_as_root_uses_apt(isolated, monkeypatch):
    calls = []

    def fake_apt(package):
        calls.append(package)
        write_mnist_dir(isolated["system"] / "fashion-mnist")
        return True

    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    assert fetch.ensure_fashion_mnist(apt=fake_apt, download=offline) == \
        isolated["system"] / "fashion-mnist"
    assert calls == ["dataset-fashion-mnist"]


def test_ensure_as_root_falls_back_to_download_when_apt_fails(isolated, monkeypatch):
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    with pytest.raises(UserError, match="download failed"):
        fetch.ensure_fashion_mnist(apt=lambda package: False, download=offline)


def test_ensure_downloads_atomically(isolated, monkeypatch):
    monkeypatch.setattr(fetch, "EXPECTED", {"train_images": (6, 3), "train_labels": (6, 1),
                                            "test_images": (4, 3), "test_labels": (4, 1)})
    source = isolated["project"].parent / "served"
    write_mnist_dir(source)
    urls = []

    def fake_download(url, dest, timeout):
        urls.append(url)
        assert dest.parent == isolated["project"] / "fashion-mnist" and dest.name.endswith(".part")
        dest.write_bytes((source / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(fetch.os, "geteuid", lambda: 1000)
    found = fetch.ensure_fashion_mnist(apt=no_apt, download=fake_download)
    assert found == isolated["project"] / "fashion-mnist"
    assert sorted(p.name for p in found.iterdir()) == sorted(p.name for p in source.iterdir())
    assert urls[0] == fetch.BASE_URL + "train-images-idx3-ubyte.gz"
    assert fetch.locate_fashion_mnist() == found


def test_download_that_does_not_parse_leaves_nothing(isolated, monkeypatch):
    def html_page(url, dest, timeout):
        dest.write_bytes(b"<html>rate limited</html>")

    monkeypatch.setattr(fetch.os, "geteuid", lambda: 1000)
    with pytest.raises(UserError, match="did not give a valid IDX file"):
        fetch.ensure_fashion_mnist(apt=no_apt, download=html_page)
    assert list((isolated["project"] / "fashion-mnist").iterdir()) == []


def test_download_with_wrong_shape_is_refused(isolated, tmp_path, monkeypatch):
    def tiny(url, dest, timeout):
        write_idx(dest, np.zeros((3, 28, 28), dtype=np.uint8), gzip=True)

    monkeypatch.setattr(fetch.os, "geteuid", lambda: 1000)
    with pytest.raises(UserError, match="expected 60000 records"):
        fetch.ensure_fashion_mnist(apt=no_apt, download=tiny)


class FakeRun:
    def __init__(self, codes):
        self.codes, self.commands = list(codes), []

    def __call__(self, cmd, **kwargs):
        self.commands.append(cmd)
        code = self.codes.pop(0)
        if code is None:
            raise FileNotFoundError("apt-get")
        return subprocess.CompletedProcess(cmd, code, "", "E: boom")


def test_apt_install_first_try():
    run = FakeRun([0])
    assert fetch.apt_install("pkg", run=run)
    assert run.commands == [["apt-get", "install", "-y", "pkg"]]


def test_apt_install_updates_then_retries_once():
    run = FakeRun([100, 0, 0])
    assert fetch.apt_install("pkg", run=run)
    assert [c[1] for c in run.commands] == ["install", "update", "install"]
    run = FakeRun([100, 0, 100])
    assert not fetch.apt_install("pkg", run=run)
    assert len(run.commands) == 3


def test_apt_missing_counts_as_failure():
    assert not fetch.apt_install("pkg", run=FakeRun([None, None, None]))


def test_main_prints_dir(isolated, capsys):
    write_mnist_dir(isolated["project"] / "fashion-mnist")
    assert fetch.main([]) == 0
    assert capsys.readouterr().out.strip() == str(isolated["project"] / "fashion-mnist")


def test_main_error_is_one_line_exit_2(isolated, tmp_path, capsys):
    assert fetch.main(["--data-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
