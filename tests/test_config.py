"""Configuration checking: every problem at once, and nothing but ConfigError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepda.cli import main
from hepda.config import TrainConfig, dump_toml, read_toml, train_config_from_mapping
from hepda.errors import ConfigError

KEYS = [
    *TrainConfig().to_dict(),
    "lambda",
    "disc-mode",
    "lamda",
    "disc_mdoe",
    "optimiser",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["background", "all", "adadelta", "nesterov", "tth41", "cpu", "ganin"]
    ),
    st.lists(st.integers(-3, 60), max_size=4),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(
        st.sampled_from(["cut", "n_events", "signal_fraction", "cutt"]), st.floats()
    ),
)


@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
@settings(max_examples=300, deadline=None)
def test_any_mapping_gives_a_config_or_a_config_error(data: dict[str, object]) -> None:
    try:
        config = train_config_from_mapping(data)
    except ConfigError as exc:
        text = str(exc)
        assert "problem(s)" in text
        # every bad key is named in the one message
        for key in data:
            if key in ("lamda", "disc_mdoe", "optimiser"):
                assert key in text
        return
    # a valid configuration survives a TOML round trip unchanged
    assert (
        train_config_from_mapping(read_toml_text(dump_toml(config.to_dict()))) == config
    )


def read_toml_text(text: str) -> dict[str, object]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads(text)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        train_config_from_mapping(
            {
                "lamda": 1.0,
                "hidden": [45, -1],
                "optimizer": "adam2",
                "significance": {"cutt": 1},
            }
        )
    text = str(info.value)
    assert "4 problem(s)" in text
    assert "did you mean 'lambda'" in text
    assert "hidden: expected a non-empty list of positive integers" in text
    assert "got 'adam2' (did you mean 'adam'?)" in text
    assert "significance.cutt: unknown key (did you mean 'cut'?)" in text


def test_lambda_and_dashes_spellings() -> None:
    config = train_config_from_mapping(
        {"lambda": 2, "disc-mode": "all", "batch-size": 100}
    )
    assert (
        config.lambda_ == 2.0 and config.disc_mode == "all" and config.batch_size == 100
    )
    assert config.to_dict()["lambda"] == 2.0


def test_lr_is_the_learning_rate_key_too_and_one_key_is_given_once() -> None:
    assert train_config_from_mapping({"lr": 0.5}).learning_rate == 0.5
    assert train_config_from_mapping({"learning_rate": 0.5}).learning_rate == 0.5
    with pytest.raises(ConfigError) as info:
        train_config_from_mapping({"lr": 0.5, "learning_rate": 0.2, "epoch": 3})
    text = str(info.value)
    assert "lr and learning_rate: the same key twice" in text
    assert "epoch: unknown key (did you mean 'epochs'?)" in text
    with pytest.raises(ConfigError, match="disc_mode and disc-mode: the same key"):
        train_config_from_mapping({"disc_mode": "all", "disc-mode": "all"})


def test_fold_must_be_below_n_folds() -> None:
    with pytest.raises(
        ConfigError, match="fold: expected a fold below n_folds = 3, got 3"
    ):
        train_config_from_mapping({"fold": 3})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("lambda = ", "is not valid TOML"),
        ('epochs = "ten"', "epochs: expected a positive integer, got 'ten'"),
    ],
)
def test_bad_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        train_config_from_mapping(read_toml(path))


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_toml(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        read_toml(tmp_path)


@given(content=st.text(max_size=80))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_random_config_files_never_crash_the_command(
    toy_files: tuple[Path, Path], tmp_path: Path, content: str
) -> None:
    """A garbage --config either fails cleanly (exit 2, no output directory) or
    is valid."""
    cfg = tmp_path / "random.toml"
    cfg.write_text(content, encoding="utf-8")
    out = tmp_path / "never"
    args = ["train", "--config", str(cfg), "--source", str(toy_files[0]),
            "--target", str(toy_files[1]), "--out", str(out), "--no-progress",
            "--epochs", "1", "--hidden", "4", "--batch-size", "500"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.output.startswith("hepda: error:")
        assert not out.exists()
    else:
        import shutil

        shutil.rmtree(out)


def test_seeds_and_numbers_out_of_range_are_named_together() -> None:
    with pytest.raises(ConfigError) as info:
        train_config_from_mapping(
            {
                "data_seed": 10**15,
                "seed": -1,
                "lambda": float("inf"),
                "learning_rate": float("nan"),
                "significance": {"cut": float("inf")},
                "epochs": -1,
                "fold": 5,
                "device": "gpu",
            }
        )
    text = str(info.value)
    assert text.startswith("8 problem(s)")
    for key in ("data_seed", "seed", "lambda", "learning_rate", "significance.cut"):
        assert f"\n  {key}: expected" in text, key
    assert "fold: expected a fold below n_folds = 3, got 5" in text
    assert "device" in text
    assert train_config_from_mapping({"seed": 2**32 - 1}).seed == 2**32 - 1


def test_the_command_line_wins_over_any_spelling_in_the_file(tmp_path: Path) -> None:
    from hepda.cli.train import resolve_config

    path = tmp_path / "c.toml"
    path.write_text('lr = 0.5\ndisc-mode = "all"\nbatch-size = 100\n')
    config, _ = resolve_config(
        str(path), {"learning_rate": 0.1, "disc_mode": "background"}
    )
    assert config.learning_rate == 0.1
    assert config.disc_mode == "background"
    assert config.batch_size == 100
