"""hepda scan: grids, stacked blocks, equality with hepda train, Dask, outputs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

import hepda.model
import hepda.scan
from hepda.cli import main
from hepda.cli.scan import resolve_scan_config, scan_config_from_mapping
from hepda.config import TrainConfig
from hepda.errors import ConfigError, TrainingDiverged
from hepda.model import BatchTargets, StackedDANN
from hepda.runs import read_history, train_run
from hepda.scan import (
    SETTING_COLUMNS,
    ScanGrid,
    member_config,
    parse_lambdas,
    parse_seeds,
    plan_scan,
    read_scan,
    run_scan,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Settings of the small scans below: float64 so that two training paths agree
# to rounding (DESIGN.md: float32 drifts at large lambda).
BASE = TrainConfig(hidden=(8, 4), epochs=3, batch_size=100, dtype="float64")
GRID = ScanGrid(lambdas=(0.0, 0.8), hidden=((8, 4),), seeds=(0, 1), folds=2)


def _grad(p: torch.Tensor) -> torch.Tensor:
    assert p.grad is not None  # filled by forward_backward
    return p.grad


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _write_domain(path: Path, n: int, shift: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.5).astype(np.int8)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    x[label == 1, :2] += 0.8  # signal differs in x0, x1
    x[label == 0, 2:] += shift  # the generators differ in the background
    columns: dict[str, Any] = {f"x{i}": x[:, i] for i in range(5)}
    columns["label"] = label
    columns["weight"] = rng.uniform(0.5, 1.5, n)
    columns["event_number"] = np.arange(n, dtype=np.int64) * 7 + seed
    pq.write_table(pa.table(columns), path)
    return str(path)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str]]:
    d = tmp_path_factory.mktemp("samples")
    return (
        [_write_domain(d / "s1.parquet", 600, 0.0, 1)],
        [_write_domain(d / "s2.parquet", 600, 0.5, 2)],
    )


def _no_plots(columns: Any, out_dir: Path) -> list[Path]:
    return []


def _not_here(*args: Any) -> None:
    raise AssertionError("blocks ran in the test process instead of the workers")


@pytest.fixture(scope="module")
def local_scan(
    samples: tuple[list[str], list[str]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]], list[tuple[int, int, int]]]:
    """The reference scan: 8 members in 2 blocks (one per fold), in this process."""
    out = tmp_path_factory.mktemp("scan") / "local"
    calls: list[tuple[int, int, int]] = []

    def record(block: hepda.scan.ScanBlock, epoch: int, rows: list[Any]) -> None:
        calls.append((block.index, epoch, len(rows)))

    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hepda.scan, "write_scan_plots", _no_plots)
        rows = run_scan(
            *samples, GRID, BASE, out, stack=4, callbacks=[record], progress=False
        )
    return out, rows, calls


def _numeric(row: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in row.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _assert_same_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert [r["member"] for r in a] == [r["member"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert ra["diverged"] == rb["diverged"]
        na, nb = _numeric(ra), _numeric(rb)
        assert na.keys() == nb.keys()
        for key in na:
            np.testing.assert_allclose(
                na[key], nb[key], rtol=1e-9, atol=1e-12, err_msg=key
            )


# ------------------------------------------------------------------ parsing


def test_parse_lambdas_list_and_range() -> None:
    assert parse_lambdas("0, 0.5,1.2") == [0.0, 0.5, 1.2]
    values = parse_lambdas("0:2:20")
    assert len(values) == 20
    assert values[0] == 0.0
    assert values[-1] == 2.0
    np.testing.assert_allclose(np.diff(values), 2 / 19)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0:2", "start:stop:count"),
        ("0:2:0", "at least 1"),
        ("0,-1", r"finite number >= 0, got \[-1.0\]"),
        ("a,b", "expected a list such as"),
        ("0,nan", "finite"),
    ],
)
def test_parse_lambdas_errors(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_lambdas(text)


def test_parse_seeds_count_and_list() -> None:
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,4,7") == [0, 4, 7]
    assert parse_seeds("7,") == [7]
    with pytest.raises(ConfigError, match="a count such as 5"):
        parse_seeds("x")
    with pytest.raises(ConfigError, match="count >= 1"):
        parse_seeds("0")


def test_grid_reports_every_problem() -> None:
    with pytest.raises(ConfigError, match="2 problem") as info:
        ScanGrid(disc_modes=("backgroud",), lambdas=(-1.0,))
    assert "did you mean 'background'" in str(info.value)
    with pytest.raises(ConfigError, match="folds: expected 1"):
        ScanGrid(folds=0)


# ------------------------------------------------------------------ planning


def test_plan_groups_and_splits_blocks() -> None:
    grid = ScanGrid(
        lambdas=(0.0, 0.5, 1.0),
        hidden=((8, 4), (6,)),
        optimizers=("adadelta", "adam"),
        seeds=(0, 1, 2),
        folds=2,
    )
    blocks = plan_scan(grid, BASE, stack=4)
    members = [m for b in blocks for m in b.members]
    assert len(members) == grid.n_members == 3 * 2 * 2 * 3 * 2
    assert [m.index for m in members] == list(range(len(members)))
    assert len({m.id for m in members}) == len(members)
    # 9 members per (widths, optimizer, fold) group, split 3 + 3 + 3 (not 4 + 4 + 1)
    assert [len(b.members) for b in blocks] == [3] * 24
    for b in blocks:
        assert {(m.hidden, m.optimizer, m.fold) for m in b.members} == {
            (b.config.hidden, b.config.optimizer, b.config.fold)
        }
        assert b.config.split == "event_number"
        assert b.config.n_folds == 2
    with pytest.raises(ConfigError, match="stack: expected a positive number"):
        plan_scan(grid, BASE, stack=0)


def test_member_config_is_the_equivalent_train_run() -> None:
    (block,) = plan_scan(ScanGrid(lambdas=(0.3,), seeds=(5,), folds=3), BASE)[2:]
    config = member_config(BASE, block.members[0], folds=3)
    assert (config.lambda_, config.seed) == (0.3, 5)
    assert (config.split, config.n_folds, config.fold) == ("event_number", 3, 2)


# ---------------------------------------------------------------- training


def test_big_stacked_batch_in_pieces_gives_the_one_pass_gradients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    n = 700
    x = torch.tensor(rng.normal(size=(n, 6)))
    is_target = torch.tensor(rng.random(n) < 0.4, dtype=torch.float64)
    label = torch.tensor(rng.integers(0, 2, n), dtype=torch.float64) * (1 - is_target)
    w = torch.tensor(rng.uniform(0.2, 1.5, n))
    targets = BatchTargets.of(label, (1 - is_target) * w / n, is_target, w / n)
    lambdas = torch.tensor([0.0, 0.5, 3.0], dtype=torch.float64)
    model = StackedDANN(6, (8, 4), seeds=[0, 1, 2], dtype=torch.float64)

    def grads() -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        model.zero_grad()
        ly, ld = model.forward_backward(x, targets, lambdas)
        return [_grad(p).clone() for p in model.parameters()], ly, ld

    assert model.rows_per_piece() > n
    whole = grads()
    monkeypatch.setattr(hepda.model, "PIECE_BYTES", 1)
    assert model.rows_per_piece() == 256  # 700 rows go in 3 pieces
    pieces = grads()
    for a, b in zip(whole[0], pieces[0], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(pieces[1], whole[1], rtol=1e-12, atol=0.0)
    torch.testing.assert_close(pieces[2], whole[2], rtol=1e-12, atol=0.0)
    assert not torch.equal(whole[0][0][0], whole[0][0][2])  # members differ


def test_members_equal_separate_train_runs(
    local_scan: tuple[Path, list[dict[str, Any]], Any],
    samples: tuple[list[str], list[str]],
    tmp_path: Path,
) -> None:
    out, rows, _ = local_scan
    table = read_scan(out)
    members = [m for b in plan_scan(GRID, BASE, stack=4) for m in b.members]
    # one member of each fold, one with the adversary and one without
    for i in (1, 6):
        member = members[i]
        assert (member.fold, member.lambda_) == ((0, 0.0) if i == 1 else (1, 0.8))
        run_dir = tmp_path / member.id
        run_dir.mkdir()
        train_run(*samples, member_config(BASE, member, GRID.folds), run_dir)
        solo = json.loads((run_dir / "metrics.json").read_text())
        for key, value in solo.items():
            if isinstance(value, float):
                np.testing.assert_allclose(
                    table[key][i], value, rtol=1e-9, atol=1e-12, err_msg=key
                )
        assert table["best_epoch"][i] == solo["best_epoch"]
        assert bool(table["diverged"][i]) is solo["diverged"] is False
        a = read_history(run_dir / "history.csv")
        b = read_history(out / "histories" / f"{member.id}.csv")
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(
                b[key], a[key], rtol=1e-9, atol=1e-12, err_msg=key
            )
    # lambda changes the result; the comparison above is not trivially true
    assert rows[0]["auc_s1"] != rows[2]["auc_s1"]


def test_blocks_of_other_discriminator_modes_in_one_process_do_not_mix(
    samples: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    """source-background prepares S2 without its labels; a block of it that
    follows a background block in the same process must not reuse that
    block's prepared data."""
    grid = ScanGrid(
        lambdas=(0.8,), hidden=((8, 4),), disc_modes=("background", "source-background")
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hepda.scan, "write_scan_plots", _no_plots)
        run_scan(*samples, grid, BASE, tmp_path / "scan", stack=1, progress=False)
    table = read_scan(tmp_path / "scan")
    (member,) = [
        m
        for b in plan_scan(grid, BASE, stack=1)
        for m in b.members
        if m.disc_mode == "source-background"
    ]
    run_dir = tmp_path / "solo"
    run_dir.mkdir()
    train_run(*samples, member_config(BASE, member, grid.folds), run_dir)
    solo = json.loads((run_dir / "metrics.json").read_text())
    i = list(table["disc_mode"]).index("source-background")
    for key in ("auc_s1", "auc_s2", "significance", "proxy_a_distance_features"):
        np.testing.assert_allclose(table[key][i], solo[key], rtol=1e-9, err_msg=key)


def test_diverged_member_is_frozen_and_the_others_go_on(
    samples: tuple[list[str], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hepda.scan, "write_scan_plots", _no_plots)
    base = BASE.replace(optimizer="nesterov", epochs=2)
    grid = ScanGrid(lambdas=(0.5, 1e300), hidden=((8, 4),), optimizers=("nesterov",))
    rows = run_scan(*samples, grid, base, tmp_path / "scan", progress=False)
    normal, absurd = rows
    assert absurd["diverged"] is True
    assert absurd["diverged_epoch"] == 1
    assert normal["diverged"] is False
    assert normal["epochs_trained"] == 2

    solo_dir = tmp_path / "solo"
    solo_dir.mkdir()
    member = plan_scan(grid, base)[0].members[0]
    train_run(*samples, member_config(base, member, 1), solo_dir)
    solo = json.loads((solo_dir / "metrics.json").read_text())
    _assert_same_rows([normal], [{**normal, **solo}])
    # the same absurd member alone: hepda train reports the divergence as an error
    absurd_dir = tmp_path / "absurd"
    absurd_dir.mkdir()
    with pytest.raises(TrainingDiverged, match="diverged in epoch 1"):
        train_run(*samples, base.replace(lambda_=1e300), absurd_dir)
    history = read_history(tmp_path / "scan" / "histories" / f"{absurd['member']}.csv")
    assert history == {}


@pytest.mark.slow
def test_dask_cluster_gives_the_local_numbers(
    local_scan: tuple[Path, list[dict[str, Any]], Any],
    samples: tuple[list[str], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(hepda.scan, "write_scan_plots", _no_plots)
    monkeypatch.setattr(hepda.scan, "_run_here", _not_here)
    _, local_rows, _ = local_scan
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        # one block per fold and worker (the CLI test below splits blocks)
        rows = run_scan(
            *samples,
            GRID,
            BASE,
            tmp_path / "dask",
            scheduler=cluster.scheduler_address,
            stack=4,
            progress=False,
        )
    _assert_same_rows(rows, local_rows)
    assert len(list((tmp_path / "dask" / "histories").iterdir())) == 8


# ------------------------------------------------------------------ outputs


def test_scan_csv_read_back_by_pandas(
    local_scan: tuple[Path, list[dict[str, Any]], Any],
) -> None:
    pd = pytest.importorskip("pandas")
    out, rows, _ = local_scan
    frame = pd.read_csv(out / "scan.csv", dtype={"hidden": str})
    assert list(frame.columns[: len(SETTING_COLUMNS)]) == list(SETTING_COLUMNS)
    assert len(frame) == 8
    assert set(frame["hidden"]) == {"8,4"}
    assert sorted(frame["fold"].unique().tolist()) == [0, 1]
    assert frame["lambda"].tolist() == [r["lambda"] for r in rows]
    for key in ("auc_s1", "best_significance", "bias_ks"):
        np.testing.assert_array_equal(frame[key].to_numpy(), [r[key] for r in rows])
    table = read_scan(out / "scan.csv")
    assert table["diverged"].dtype == bool
    assert table["seed"].dtype == np.int64
    assert table["hidden"].tolist() == ["8,4"] * 8
    assert np.isnan(table["diverged_epoch"]).all()


def test_callbacks_see_every_block_epoch(
    local_scan: tuple[Path, list[dict[str, Any]], list[tuple[int, int, int]]],
) -> None:
    _, _, calls = local_scan
    assert calls == [(b, e, 4) for b in (0, 1) for e in (1, 2, 3)]


def test_scan_toml_repeats_the_scan(
    local_scan: tuple[Path, list[dict[str, Any]], Any],
) -> None:
    out, _, _ = local_scan
    with (out / "scan.toml").open("rb") as fh:
        data = tomllib.load(fh)
    base, grid, extra = scan_config_from_mapping(data)
    assert grid == GRID
    assert base.features == ("x0", "x1", "x2", "x3", "x4")
    # the keys the grid varies are in [scan], the rest of the base is as given
    assert base.replace(features=None, hidden=BASE.hidden) == BASE
    assert extra["stack"] == 4
    assert len(extra["source"]) == 1


def test_scan_file_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lamdas'\].*'lambdas'"):
        scan_config_from_mapping({"scan": {"lamdas": [0.0]}})
    with pytest.raises(ConfigError, match="2 problem") as info:
        scan_config_from_mapping({"lambdas": "0:1", "seeds": [0.5]})
    assert "seeds: expected a count or a list" in str(info.value)
    _, grid, _ = scan_config_from_mapping(
        {"hidden": [[8, 4], [6]], "optimizer": "adam", "seeds": 2, "lambda": 0.7}
    )
    assert grid.hidden == ((8, 4), (6,))
    assert grid.optimizers == ("adam",)
    assert grid.seeds == (0, 1)
    assert grid.lambdas == (0.7,)


def test_command_line_overrides_the_scan_file(tmp_path: Path) -> None:
    path = tmp_path / "scan.toml"
    path.write_text("epochs = 7\nlambdas = [0.1]\nseeds = 3\n[scan]\nfolds = 2\n")
    grid_options: dict[str, Any] = dict.fromkeys(
        ("lambdas", "seeds", "folds", "stack", "workers", "scheduler")
    )
    grid_options.update(
        lambdas="0:1:3",
        hidden=("8,4", "6"),
        disc_mode=("all", "background"),
        optimizer=(),
        stack=5,
    )
    base, grid, extra = resolve_scan_config(str(path), {"batch_size": 50}, grid_options)
    assert (base.epochs, base.batch_size) == (7, 50)
    assert grid == ScanGrid(
        lambdas=(0.0, 0.5, 1.0),
        hidden=((8, 4), (6,)),
        disc_modes=("all", "background"),
        seeds=(0, 1, 2),
        folds=2,
    )
    assert extra == {"stack": 5}


def test_workers_and_scheduler_exclude_each_other(
    samples: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="not both"):
        run_scan(*samples, GRID, BASE, tmp_path, workers=2, scheduler="tcp://x:1")
    with pytest.raises(ConfigError, match="workers: expected a positive"):
        run_scan(*samples, GRID, BASE, tmp_path, workers=0)


# ---------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_scan_with_config_file_workers_and_plots(
    samples: tuple[list[str], list[str]],
    local_scan: tuple[Path, list[dict[str, Any]], Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(hepda.scan, "_run_here", _not_here)
    config = tmp_path / "scan.toml"
    config.write_text(
        "epochs = 3\nbatch_size = 100\nhidden = [8, 4]\n"
        "[scan]\nlambdas = '0:0.8:2'\nseeds = 2\nstack = 2\n"
    )
    out = tmp_path / "out"
    args = ["scan", "--config", str(config), "--out", str(out), "--no-progress"]
    args += ["--source", samples[0][0], "--target", samples[1][0]]
    args += ["--folds", "2", "--dtype", "float64", "--workers", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "best significance" in result.output
    assert "members" in result.output
    for name in ("scan.csv", "scan.toml", "scan_metrics.png", "tradeoff.png"):
        assert (out / name).stat().st_size > 0, name
    # the same grid as the reference scan, run by 2 processes: the same numbers
    table, reference = read_scan(out), read_scan(local_scan[0])
    for key in ("lambda", "fold", "seed", "auc_s1", "best_significance", "bias_ks"):
        np.testing.assert_allclose(table[key], reference[key], rtol=1e-9, err_msg=key)

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2
    assert "pass --overwrite" in again.output


def test_cli_reports_missing_out(samples: tuple[list[str], list[str]]) -> None:
    result = CliRunner().invoke(
        main, ["scan", "--source", samples[0][0], "--target", samples[1][0]]
    )
    assert result.exit_code == 2
    assert "missing --out" in result.output
    bad = CliRunner().invoke(
        main,
        ["scan", "--source", "a", "--target", "b", "--out", "c", "--lambdas", "1:2"],
    )
    assert bad.exit_code == 2
    assert "start:stop:count" in bad.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--stack", "0"], "stack: expected a positive number"),
        (["--folds", "500"], "validation events hold only label(s)"),
        (["--scheduler", "http://127.0.0.1:1"], "cannot reach the Dask scheduler"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["--seeds", "4294967296,"], "seeds: expected integers from 0 to"),
        (["--folds", "40"], "events that choose the best epoch have total weight 0"),
    ],
)
def test_cli_overwrite_with_a_bad_setting_keeps_the_earlier_scan(
    samples: tuple[list[str], list[str]],
    tmp_path: Path,
    option: list[str],
    message: str,
) -> None:
    out = tmp_path / "scan"
    out.mkdir()
    (out / "scan.toml").write_text("# an earlier scan\n")
    (out / "scan.csv").write_text("member\n0\n")
    args = ["scan", "--source", samples[0][0], "--target", samples[1][0]]
    args += ["--out", str(out), "--overwrite", "--epochs", "1", *option]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["scan.csv", "scan.toml"]
    assert (out / "scan.csv").read_text() == "member\n0\n"


def test_scan_summary_chooses_settings_on_their_mean_over_seeds() -> None:
    from hepda.cli.scan import scan_summary

    def row(member: int, lam: float, seed: int, z: float, **extra: Any) -> dict:
        return {
            "member": member,
            "lambda": lam,
            "hidden": "45,30,25",
            "disc_mode": "background",
            "optimizer": "adadelta",
            "seed": seed,
            "fold": 0,
            "best_significance": z,
            "best_auc_s2": 0.7,
            "bias_ks": 0.1 * lam,
            "diverged": False,
            **extra,
        }

    rows = [
        # lambda 1: one lucky seed (2.0) but the lower mean
        row(0, 1.0, 0, 2.0),
        row(1, 1.0, 1, 0.2),
        row(2, 1.0, 2, 0.2),
        # lambda 0.5: steady
        row(3, 0.5, 0, 1.0),
        row(4, 0.5, 1, 1.2),
        row(5, 0.5, 2, float("nan"), diverged=True),
    ]
    # lambda 2: the best mean, but on the one seed of three that did not diverge
    rows += [
        row(6, 2.0, 0, 3.0),
        row(7, 2.0, 1, float("nan"), diverged=True),
        row(8, 2.0, 2, float("nan"), diverged=True),
    ]
    summary = dict(scan_summary(rows))
    assert summary["members"] == "9" and summary["diverged"] == "3"
    # only lambda 1 lost no seed
    best = summary["best significance (best epoch)"]
    assert best.startswith("0.8 +- 1 over 3 seeds/folds: lambda 1")
    # once every setting has lost seeds, those that lost the fewest compete
    rows[0]["diverged"] = True
    best = dict(scan_summary(rows))["best significance (best epoch)"]
    assert best.startswith(
        "1.1 +- 0.14 over 2 seeds/folds, 1 of 3 diverged: lambda 0.5"
    )


def test_a_mistyped_scan_key_at_the_top_level_suggests_the_scan_key() -> None:
    from hepda.cli.scan import scan_config_from_mapping

    with pytest.raises(
        ConfigError, match=r"lamdas: unknown key \(did you mean 'lambdas'"
    ):
        scan_config_from_mapping({"lamdas": [0.0, 1.0]})


def test_check_scan_finds_weights_the_losses_cannot_balance() -> None:
    from hepda.data.events import EventTable
    from hepda.errors import DataError
    from hepda.scan import check_scan

    rng = np.random.default_rng(2)
    n = 600
    label = (np.arange(n) % 2).astype(np.int8)

    def table(weight: np.ndarray) -> EventTable:
        return EventTable(
            features=rng.normal(size=(n, 3)).astype(np.float32),
            feature_names=("a", "b", "c"),
            label=label,
            weight=weight,
            event_number=np.arange(n),
        )

    good = table(np.ones(n))
    # validation (event_number % 3 == 0) fine, training background weights
    # summing below zero: only balancing the training classes fails
    validation = np.arange(n) % 3 == 0
    negative = table(np.where((label == 0) & ~validation, -1.0, 1.0))
    base = BASE.replace(split="event_number", n_folds=3, fold=0)
    grid = ScanGrid(lambdas=(0.0,))
    check_scan(good, good, grid, base)  # nothing to find
    with pytest.raises(DataError, match="class balancing needs a positive sum"):
        check_scan(negative, good, grid, base)
