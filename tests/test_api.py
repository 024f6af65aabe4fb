"""The Python API (apq/api.py): settings as the CLI takes them, runs read back as typed objects,
and a smoke-preset search from nothing to a verified run."""
import json
import os

import numpy as np
import pytest

import apq
from apq.errors import UserError
from apq.search.outputs import LATEST
from tests.helpers.search import baseline_names, save_random_predictor, save_smoke_supernet


@pytest.fixture
def searched(tmp_path):
    """A smoke search with baselines on a random predictor (no upstream stages, not verified)."""
    save_random_predictor("fmnist")
    save_smoke_supernet()  # the search measures its shortlists on it
    return apq.search(space="fmnist", target="fpga", preset="smoke", settings={"search.generations": 2},
                      baselines=True, run_name="api", upstream=False, verify=False, jobs=1)


def test_settings_as_mapping_or_strings_resolve_alike(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("[search]\npopulation = 30\ngenerations = 9\n")
    as_strings = apq.config("smoke", ["search.population=200", "verify.qat_steps=3"], toml)
    as_mapping = apq.config("smoke", {"search.population": 200, "verify.qat_steps": "3"}, toml)
    assert as_strings == as_mapping
    assert (as_strings.search.population, as_strings.search.generations, as_strings.verify.qat_steps) == (200, 9, 3)
    assert apq.config(as_strings, "search.parent_fraction=0.5") == apq.config(as_mapping, {"search.parent_fraction": 0.5})
    assert apq.config() == apq.api.config("default")


@pytest.mark.parametrize("settings, words", [
    (["search.populaton=5"], ("search.population",)),
    ({"search.population": "many"}, ("not an integer",)),
    ({"nosuch.field": 1}, ("unknown setting", "SECTION")),
    (["search.population"], ("SECTION.FIELD=VALUE",)),
])
def test_a_bad_setting_is_a_user_error(settings, words):
    with pytest.raises(UserError) as err:
        apq.config("smoke", settings)
    assert all(word in str(err.value) for word in words)


def test_a_bad_setting_stops_a_search_before_any_work(tmp_path):
    with pytest.raises(UserError, match="population"):
        apq.search(preset="smoke", settings={"search.population": 0}, upstream=True)
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_stage_packages_stay_modules_and_become_callable():
    import apq.search.run

    assert apq.search.run.search_and_write.__module__ == "apq.search.run"
    assert callable(apq.search) and callable(apq.verify) and callable(apq.config)
    assert apq.config.resolve_config("smoke") == apq.config("smoke")


def test_load_run_reads_every_file_typed_and_consistent(searched, tmp_path):
    run = searched
    assert run.path == (tmp_path / "results/fmnist/fpga/api").resolve() and run.name == "api"
    assert run.verify is None and run.best["method"] in {"ga", "nsga2"} and run.config["baselines"] is True
    assert run.space().name == "fmnist" and run.space().n_genes == 64
    for loaded in (apq.load_run(run.path), apq.load_run("api", target="fpga"), apq.load_run(target="fpga")):
        assert loaded == run  # by path, by name, and the latest run

    joint = [row for row in run.front if row["method"] == "joint"]
    assert joint and {row["method"] for row in run.front} == {"joint"} | baseline_names(run.space())
    for row in run.front:
        assert isinstance(row["predicted_acc"], float) and isinstance(row["latency_ms"], float)
        assert row["energy_mj"] is None or isinstance(row["energy_mj"], float)
        assert all(isinstance(g, int) for g in row["genome"]) and isinstance(row["arch"], str)
    accs = [row["predicted_acc"] for row in sorted(joint, key=lambda r: r["latency_ms"])]
    assert accs == sorted(accs)  # a Pareto front: costlier members predict higher accuracy
    assert {row["method"] for row in run.logbook} >= {"ga", "random"}
    assert all(isinstance(row["gen"], int) for row in run.logbook)
    assert all(value == value for row in run.logbook for value in row.values())  # NaN read as None

    columns = run.candidates()
    n = len(columns["method"])
    assert n == run.config["queries"] and columns["genome"].shape == (n, 64) and columns["genome"].dtype == np.int64
    assert columns["predicted_acc"].dtype == np.float64 and columns["feasible"].dtype == np.int64
    limit = run.best["constraint"]["limit"]
    np.testing.assert_array_equal(columns["feasible"], (columns["latency_ms"] <= limit).astype(np.int64))
    winner = np.flatnonzero((columns["genome"] == run.best["genome"]).all(axis=1))
    assert winner.size and np.isclose(columns["predicted_acc"][winner[0]], run.best["predicted_acc"], rtol=1e-5)


def test_load_run_of_a_missing_run_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="apq search"):
        apq.load_run("nosuch", target="fpga")
    with pytest.raises(UserError, match="give a RUN or --target"):
        apq.verify()


def test_verify_takes_a_run_and_load_run_sees_its_report(tmp_path):
    save_random_predictor("fmnist")
    run = apq.search(target="fpga", preset="smoke", settings=["search.generations=2", "search.rerank_k=1"],
                     run_name="v", upstream=False, verify=False)
    save_smoke_supernet()
    report = apq.verify(run, steps=1, threads=1)
    assert report["settings"]["verify"]["qat_steps"] == 1 and report["settings"]["quant"]["name"] == "smoke"
    assert report["genome"] == run.best["genome"] and 0.0 <= report["measured_acc"] <= 100.0
    assert apq.load_run(run.path).verify == report
    assert apq.verify("v", target="fpga", steps=1, threads=1) == report  # up to date: read back, nothing redone


def test_the_cli_prints_what_the_api_returns(searched, tmp_path, capsys):
    from apq.cli import main

    assert main(["search", "--target", "fpga", "--preset", "smoke", "--generations", "2", "--jobs", "1", "--run", "cli"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    run = apq.load_run("cli", target="fpga")
    assert out[-1] == str(run.path) and f"{run.best['predicted_acc']:.2f}% predicted" in out[0]
    assert os.path.realpath(tmp_path / "results/fmnist/fpga" / LATEST) == str(run.path)


@pytest.mark.slow
def test_search_with_upstream_builds_everything_then_reuses_it(tmp_path):
    run = apq.search(space="fmnist", target="fpga", preset="smoke", run_name="first")
    for path in ("data/fmnist/supernet.pt", "data/fmnist/samples_fp32.h5", "data/fmnist/samples_quant.h5",
                 "data/fmnist/samples_fp32_retest.h5", "data/fmnist/samples_quant_retest.h5",
                 "predictors/fmnist/quant.pt", "predictors/fmnist/metrics.json"):
        assert (tmp_path / path).is_file(), path
    reliability = json.loads((tmp_path / "predictors/fmnist/metrics.json").read_text())["label_reliability"]
    for kind in ("fp32", "quant"):  # the smoke preset re-measures 4 samples of each kind
        retest = reliability[kind]["accuracy"]["retest"]
        assert retest["n_retest"] == 4 and retest["realization_noise_std"] >= 0
        assert 0 <= retest["perfect_predictor_tau"] <= 1
    assert run.verify is not None and run.verify["genome"] == run.best["genome"]
    assert run.config["predictor"]["path"] == str(tmp_path / "predictors/fmnist/quant.pt")
    built = {p: p.stat().st_mtime_ns for p in (tmp_path / "data/fmnist").glob("*.*")}
    metrics = apq.predictor(space="fmnist", preset="smoke")
    assert metrics == json.loads((tmp_path / "predictors/fmnist/metrics.json").read_text())
    again = apq.search(space="fmnist", target="fpga", preset="smoke", run_name="second", verify=False)
    assert {p: p.stat().st_mtime_ns for p in built} == built  # every upstream stage was up to date
    assert again.best["genome"] == run.best["genome"] and again.verify is None
