"""The run config: presets as named RunConfig instances, --set / --config overrides, their errors,
and dataset-dependent sizes (the validation split) that scale with a user's small dataset."""
import json
import time

import pytest

from apq.cli import main
from apq.config import PRESETS, SECTIONS, RunConfig, resolve_config
from apq.data.splits import resolve_val_size
from apq.errors import UserError
from apq.finetune.config import FINETUNE_PRESETS
from apq.predictor.config import PREDICTOR_PRESETS
from apq.presets import PRESETS as PRESET_SECTIONS
from apq.quant.config import QUANT_PRESETS
from apq.samples.config import SAMPLE_PRESETS
from apq.search.config import SEARCH_PRESETS
from apq.space.registry import create_space
from apq.supernet.config import SUPERNET_PRESETS
from apq.verify.config import VERIFY_PRESETS
from tests.helpers.datasets import write_mnist_dir

TABLES = {"preset": PRESET_SECTIONS, "supernet": SUPERNET_PRESETS, "samples": SAMPLE_PRESETS, "quant": QUANT_PRESETS,
          "predictor": PREDICTOR_PRESETS, "search": SEARCH_PRESETS, "verify": VERIFY_PRESETS,
          "finetune": FINETUNE_PRESETS}

# The figures every README number was measured with (a changed preset value fails here).
FIGURES = {
    "smoke": {"preset.val_size": 500, "preset.cpu_latency_repeats": 2, "supernet.max_steps_per_phase": 3,
              "samples.n_fp32": 32, "quant.qat_steps": 2, "predictor.hidden_size": 32, "search.population": 40,
              "search.generations": 8, "verify.qat_steps": 4},
    "default": {"preset.seed": 0, "preset.cpu_latency_repeats": 7, "supernet.epochs_full": 4.5,
                "supernet.epochs_channels": 3.5, "samples.n_fp32": 1000, "samples.n_quant": 300,
                "quant.qat_steps": 20, "quant.bn_calib_images": 1000, "predictor.budgets": (25, 50, 100, 200),
                "search.population": 100, "search.generations": 300, "verify.qat_steps": 250},
    "full": {"preset.val_size": 10000, "preset.cpu_latency_repeats": 15, "supernet.crop_pad": 2,
             "samples.n_fp32": 4000, "quant.qat_steps": 80, "predictor.curve_seeds": 5, "search.generations": 600,
             "verify.qat_steps": 1000},
}


def value(config: RunConfig, key: str):
    section, field = key.split(".")
    return getattr(config.section(section), field)


@pytest.mark.parametrize("name", ["smoke", "default", "full"])
def test_presets_are_the_stage_tables_unchanged(name):
    config = resolve_config(name)
    assert config == PRESETS[name] and config.name == name
    for section in SECTIONS:
        assert config.section(section) == TABLES[section][name]
    for key, expected in FIGURES[name].items():
        assert value(config, key) == expected, key


def test_auto_validation_size_is_5000_on_fashion_mnist_and_a_tenth_of_a_small_split():
    assert PRESETS["default"].preset.val_size == "auto"
    assert resolve_val_size("auto", 60000) == 5000  # Fashion-MNIST: the size every default figure used
    assert resolve_val_size("auto", 1500) == 150
    assert resolve_val_size("auto", 5) == 1
    assert resolve_val_size(700, 1500) == 700


def test_set_parses_every_field_type():
    config = resolve_config("default", [
        "search.population=200",             # int
        "quant.qat_lr=0.002",                # float
        "quant.per_channel=false",           # bool
        "supernet.flip=True",
        "predictor.bit_merge=before_relu",   # str
        "predictor.budgets=10,40",           # tuple of ints
        "predictor.baselines=[ridge]",       # tuple of strings
        "preset.val_size=1200",              # int or "auto"
        "supernet.epochs_full=2",            # an integer where a float is expected
    ])
    assert config.search.population == 200 and config.quant.qat_lr == 0.002
    assert config.quant.per_channel is False and config.supernet.flip is True
    assert config.predictor.bit_merge == "before_relu"
    assert config.predictor.budgets == (10, 40) and config.predictor.baselines == ("ridge",)
    assert config.preset.val_size == 1200 and config.supernet.epochs_full == 2.0
    assert resolve_config("full", ["preset.val_size=auto"]).preset.val_size == "auto"
    # untouched sections stay the preset's, and a later --set wins
    assert config.verify == PRESETS["default"].verify
    assert resolve_config("default", ["search.population=50", "search.population=60"]).search.population == 60


def test_changes_to_one_section_are_validated_together():
    """Each change alone breaks quant_test_fraction <= fp32_test_fraction; the pair does not."""
    config = resolve_config("default", ["predictor.fp32_test_fraction=0.1", "predictor.quant_test_fraction=0.1"])
    assert config.predictor.fp32_test_fraction == config.predictor.quant_test_fraction == 0.1


def test_toml_and_json_files_then_set(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('[search]\npopulation = 60\ngenerations = 5\n\n[quant]\nper_channel = false\n'
                    '[predictor]\nbudgets = [12, 24]\n[preset]\nval_size = "auto"\nseed = 3\n')
    config = resolve_config("smoke", ["search.generations=7"], toml)
    assert (config.search.population, config.search.generations) == (60, 7)  # --set after the file
    assert config.quant.per_channel is False and config.predictor.budgets == (12, 24)
    assert config.preset.val_size == "auto" and config.preset.seed == 3
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps({"search": {"population": 60, "generations": 5}, "verify": {"qat_steps": 9}}))
    config = resolve_config("default", (), as_json)
    assert (config.search.population, config.search.generations, config.verify.qat_steps) == (60, 5, 9)


def test_to_dict_is_json_and_reads_back_as_a_config_file(tmp_path):
    config = resolve_config("smoke", ["search.population=64", "predictor.budgets=8,16"])
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(config.to_dict()))
    assert resolve_config("smoke", (), saved) == config
    assert set(config.to_dict()) == set(SECTIONS) and config.to_dict()["search"]["name"] == "smoke"
    with pytest.raises(UserError, match="preset's name"):  # a smoke config is not a default one
        resolve_config("default", (), saved)


def test_overrides_reach_what_stages_store():
    """The sections passed to stages carry the overrides, so their stored dicts (artifact identity) change."""
    plain, changed = resolve_config("smoke"), resolve_config("smoke", ["supernet.lr_full=0.07", "preset.seed=4"])
    assert changed.supernet.to_dict()["lr_full"] == 0.07 and changed.preset.to_dict()["seed"] == 4
    assert changed.supernet.to_dict() != plain.supernet.to_dict()
    assert changed.search.to_dict() == plain.search.to_dict()


def run_cli(capsys, *args) -> tuple[int, list[str]]:
    code = main(list(args))
    return code, capsys.readouterr().err.strip().splitlines()


SEARCH = ["search", "--space", "fmnist", "--target", "fpga", "--preset", "smoke"]


@pytest.mark.parametrize("args,words", [
    (["--set", "nosuch.key=1"], ["unknown setting 'nosuch.key'", "search", "verify"]),
    (["--set", "search.populaton=200"], ["unknown setting 'search.populaton'", "did you mean 'search.population'"]),
    (["--set", "search.population=abc"], ["--set search.population=abc", "'abc' is not an integer"]),
    (["--set", "search.population=0"], ["--set search.population=0", "population must be >= 1"]),
    (["--set", "samples.n_retest=2"], ["--set samples.n_retest=2", "n_retest must be 0 (none) or >= 3"]),
    (["--set", "quant.per_channel=maybe"], ["quant.per_channel", "not true or false"]),
    (["--set", "search.population"], ["SECTION.FIELD=VALUE"]),
    (["--set", "preset.val_size=-3"], ["preset.val_size", "'auto'"]),
    (["--config", "missing.toml"], ["missing.toml", "check the path"]),
    (["--config", "run.yaml"], [".toml or .json"]),
    (["--generations", "1", "--set", "search.population=10", "--set", "search.parent_fraction=0.1"],
     ["parent_fraction must be in (0, 1]"]),
])
def test_bad_settings_are_one_line_and_exit_2(capsys, tmp_path, args, words):
    code, lines = run_cli(capsys, *SEARCH, *args)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("apq: error:"), lines
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("text,words", [
    ("[search]\npopulation = 'abc'\n", ["run.toml", "search.population", "not an integer"]),
    ("[search]\npopulation = 200\n[nosuch]\nkey = 1\n", ["unknown setting 'nosuch.key'", "run.toml"]),
    ("[search\npopulation = 200\n", ["not valid TOML"]),
    ("population = 200\n", ["one table per section"]),
])
def test_bad_config_files_are_one_line_and_exit_2(capsys, tmp_path, text, words):
    (tmp_path / "run.toml").write_text(text)
    code, lines = run_cli(capsys, *SEARCH, "--config", str(tmp_path / "run.toml"))
    assert code == 2 and len(lines) == 1 and lines[0].startswith("apq: error:"), lines
    for word in words:
        assert word in lines[0]


def make_run(root, preset: dict):
    """A search run folder with just the files ``apq verify`` reads before its settings."""
    run = root / "results" / "fmnist" / "fpga" / "r1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"space": "fmnist", "target": "fpga", "seed": 0, "preset": preset}))
    (run / "best.json").write_text(json.dumps({"genome": [0]}))
    return run


def test_every_stage_command_takes_set_and_config(capsys, tmp_path):
    run = make_run(tmp_path, PRESETS["smoke"].preset.to_dict())
    for command in (["supernet"], ["samples"], ["predictor"], ["lut", "--target", "fpga"], SEARCH[:5],
                    ["verify", str(run)]):
        code, lines = run_cli(capsys, *command, "--set", "nosuch.key=1")
        assert code == 2 and "unknown setting 'nosuch.key'" in lines[0], (command, lines)


def test_verify_starts_from_the_runs_preset_section(tmp_path):
    from apq.cli import build_parser
    from apq.commands import verify

    stored = {**PRESETS["smoke"].preset.to_dict(), "seed": 3, "val_size": 321}
    run = make_run(tmp_path, stored)

    def resolved(*flags):
        args = build_parser().parse_args(["verify", str(run), *flags])
        return verify.resolve_config_args(args, verify._run_base(args, run), steps="verify.qat_steps",
                                          threads="verify.num_threads")

    config = resolved("--set", "verify.qat_steps=7", "--threads", "1")
    assert config.preset.to_dict() == stored and config.quant == PRESETS["smoke"].quant
    assert (config.verify.qat_steps, config.verify.num_threads) == (7, 1)
    assert resolved("--set", "verify.qat_steps=7", "--steps", "9").verify.qat_steps == 9
    assert resolved("--preset", "default").preset == PRESETS["default"].preset


def test_generations_flag_applies_after_set(monkeypatch):
    from apq.cli import build_parser
    from apq.commands.common import resolve_config_args

    args = build_parser().parse_args([*SEARCH, "--set", "search.generations=50", "--generations", "3"])
    assert resolve_config_args(args, generations="search.generations").search.generations == 3
    args = build_parser().parse_args([*SEARCH, "--set", "search.generations=50"])
    assert resolve_config_args(args, generations="search.generations").search.generations == 50


# ----- a user's own 1,500-image dataset ---------------------------------------------------------
@pytest.fixture
def small_dataset(tmp_path):
    """(space .json, data dir): the fmnist space on an MNIST-format folder of 1500 train / 200 test images."""
    data = tmp_path / "my-digits"
    write_mnist_dir(data, n_train=1500, n_test=200, gzip=False)
    config = {**create_space("fmnist").config.to_dict(), "name": "digits", "dataset": "mnist"}
    space = tmp_path / "digits.json"
    space.write_text(json.dumps(config))
    return space, data


@pytest.mark.parametrize("preset,val_images", [("default", 150), ("smoke", 500)])
def test_small_dataset_gets_past_split_creation(small_dataset, preset, val_images):
    from apq.supernet.build import load_training_data

    space, data = small_dataset
    config = resolve_config(preset)
    train, test, calib = load_training_data(create_space(str(space)), config.preset, config.supernet, data)
    subset = config.supernet.train_subset or 1500 - val_images
    assert len(train.x) == min(subset, 1500 - val_images) and len(test[0]) > 0
    assert len(calib) == min(config.supernet.bn_calib_images, len(train.x))  # BN calibration capped by the data


def test_small_dataset_smoke_supernet_runs(small_dataset, capsys, tmp_path):
    space, data = small_dataset
    started = time.perf_counter()
    code = main(["supernet", "--space", str(space), "--data-dir", str(data), "--preset", "smoke",
                 "--set", "preset.val_size=auto"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "data" / "digits" / "supernet.json").read_text())
    assert report["preset"]["val_size"] == "auto" and report["train_images"] == 256
    assert time.perf_counter() - started < 120


def test_too_large_validation_size_names_the_override(small_dataset, capsys, tmp_path):
    space, data = small_dataset
    code, lines = run_cli(capsys, "supernet", "--space", str(space), "--data-dir", str(data),
                          "--set", "preset.val_size=5000")
    assert code == 2 and len(lines) == 1, lines
    assert "validation size 5000 must be between 1 and 1499" in lines[0]
    assert "--set preset.val_size=N" in lines[0] and "preset.val_size=auto" in lines[0]
    assert not (tmp_path / "data" / "digits" / "supernet.pt").exists()
