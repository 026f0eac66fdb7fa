"""``hepda train`` and ``hepda evaluate`` end to end, checked with independent
readers."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner, Result
from sklearn.metrics import roc_auc_score

from hepda.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = pytest.mark.slow

SMALL = ["--epochs", "4", "--batch-size", "300", "--hidden", "8,6", "--no-progress"]


def _train(files: tuple[Path, Path], out: Path, *extra: str) -> tuple[int, str]:
    args = [
        "train",
        "--source",
        str(files[0]),
        "--target",
        str(files[1]),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main, [*args, *SMALL, *extra])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def run_dir(
    toy_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    code, output = _train(toy_files, out, "--lambda", "1.0")
    assert code == 0, output
    return out


def test_run_directory_holds_every_output(run_dir: Path) -> None:
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "config.toml",
        "history.csv",
        "checkpoint.pt",
        "scores.parquet",
        "metrics.json",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]

    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["lambda"] == 1.0
    assert config["hidden"] == [8, 6]
    assert config["features"] == ["f0", "f1", "f2", "f3", "f4"]
    assert config["source"][0].endswith("s1.parquet")
    # the optimizer's default is said, not fixed: the file may serve another one
    assert "learning_rate" not in config
    text = (run_dir / "config.toml").read_text()
    assert text.startswith("# learning_rate: not set, so adadelta's default, 1\n")

    with (run_dir / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    required = {
        "loss_label_s1",
        "loss_label_s2",
        "loss_domain",
        "auc_s1",
        "auc_s2",
        "significance",
    }
    assert required <= set(rows[0])

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in (
        "auc_s1",
        "auc_s2",
        "accuracy_s1",
        "accuracy_s2",
        "significance",
        "significance_asimov",
        "bias_ks",
        "proxy_a_distance_input",
        "proxy_a_distance_features",
    ):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), key
    assert metrics["diverged"] is False


def test_metrics_agree_with_an_independent_computation(run_dir: Path) -> None:
    """AUC from scikit-learn and the paper's Z by hand, on scores.parquet read
    by pyarrow."""
    scores = pq.read_table(run_dir / "scores.parquet").to_pydict()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    domain = np.array(scores["domain"])
    split = np.array(scores["split"])
    label = np.array(scores["label"])
    weight = np.array(scores["weight"])
    score = np.array(scores["score"], dtype=np.float64)
    assert set(domain) == {"source", "target"}
    assert len(score) == 2400
    assert np.mean(split == "val") == pytest.approx(0.34, abs=0.01)

    for dom, key in (("source", "auc_s1"), ("target", "auc_s2")):
        sel = (domain == dom) & (split == "val")
        ref = roc_auc_score(label[sel], score[sel], sample_weight=weight[sel])
        assert metrics[key] == pytest.approx(ref, abs=1e-6)

    # accuracy at 0.5, each class scaled to equal total weight
    sel = (domain == "target") & (split == "val")
    right = (score[sel] > 0.5) == (label[sel] == 1)
    per_class = [
        weight[sel][(label[sel] == c) & right].sum()
        / weight[sel][label[sel] == c].sum()
        for c in (0, 1)
    ]
    assert metrics["accuracy_s2"] == pytest.approx(np.mean(per_class), rel=1e-9)

    def frac(dom: str, cls: int) -> float:
        sel = (domain == dom) & (split == "val") & (label == cls)
        return weight[sel & (score > 0.6)].sum() / weight[sel].sum()

    s = 5e4 * frac("target", 1) * 0.05
    b1 = 5e4 * frac("source", 0) * 0.95
    b2 = 5e4 * frac("target", 0) * 0.95
    z = s / math.sqrt(b2 + (b2 - b1) ** 2)
    assert metrics["significance"] == pytest.approx(z, rel=1e-5)


def test_existing_run_is_not_overwritten(
    toy_files: tuple[Path, Path], run_dir: Path
) -> None:
    before = (run_dir / "metrics.json").read_text()
    code, output = _train(toy_files, run_dir)
    assert code == 2
    assert "--overwrite" in output
    assert "Traceback" not in output
    assert (run_dir / "metrics.json").read_text() == before


def test_overwrite_refuses_a_directory_that_is_not_a_run(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    (tmp_path / "precious.txt").write_text("data")
    code, output = _train(toy_files, tmp_path, "--overwrite")
    assert code == 2
    assert "does not look like a hepda output" in output
    assert (tmp_path / "precious.txt").read_text() == "data"


def test_config_file_typos_are_all_reported(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg = tmp_path / "train.toml"
    cfg.write_text('disc_mdoe = "all"\noptimizer = "adadleta"\nval_fraction = 1.5\n')
    code, output = _train(toy_files, tmp_path / "run", "--config", str(cfg))
    assert code == 2
    assert "3 problem(s)" in output
    assert "did you mean 'disc_mode'" in output
    assert "did you mean 'adadelta'" in output
    assert (
        "val_fraction: expected a number between 0 and 1 (exclusive), got 1.5" in output
    )
    assert "Traceback" not in output
    assert not (tmp_path / "run").exists()


def test_config_file_values_and_command_line_precedence(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg = tmp_path / "train.toml"
    cfg.write_text(
        f'source = ["{toy_files[0]}"]\ntarget = ["{toy_files[1]}"]\n'
        'lambda = 0.5\ndisc_mode = "all"\nepochs = 2\nhidden = [4]\n'
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--lambda",
            "0.7",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    stored = tomllib.loads((out / "config.toml").read_text())
    assert stored["lambda"] == 0.7  # the command line wins
    assert stored["disc_mode"] == "all"
    assert stored["epochs"] == 2
    assert stored["hidden"] == [4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "missing.parquet"], "missing.parquet"),
        (["--features", "f0,f9"], "f9"),
        (["--hidden", "45,x"], "--hidden expects"),
    ],
)
def test_bad_input_fails_cleanly(
    toy_files: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    base = {"--source": str(toy_files[0]), "--target": str(toy_files[1])}
    base.update(dict(zip(args[::2], args[1::2], strict=False)))
    argv = ["train", "--out", str(tmp_path / "run"), "--no-progress"]
    for key, value in base.items():
        argv += [key, value]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def _bad_table(kind: str, good: Path, tmp_path: Path) -> Path:
    """A copy of the toy table ``good`` spoilt in one way, as a user might."""
    table = pq.read_table(good)
    path = tmp_path / f"{kind}.parquet"
    if kind == "nan":
        f1 = table.column("f1").to_numpy().copy()
        f1[17] = np.nan
        table = table.set_column(table.schema.get_field_index("f1"), "f1", [f1])
    elif kind == "text":
        f1 = [f"{v:.3f}" for v in table.column("f1").to_pylist()]
        table = table.set_column(
            table.schema.get_field_index("f1"), "f1", [pa.array(f1, pa.string())]
        )
    elif kind == "empty":
        table = table.slice(0, 0)
    elif kind == "fewer":
        table = table.drop_columns(["f4"])
    elif kind == "no-label":
        table = table.drop_columns(["label"])
    elif kind == "more":  # a numeric column the other sample lacks
        table = table.append_column("f5", table.column("f0"))
    elif kind == "twice":
        table = table.append_column("f1", table.column("f0"))
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("kind", "role", "message"),
    [
        ("nan", "--target", r"nan\.parquet.*f1.*NaN"),
        ("text", "--source", r"text\.parquet.*'f1' is string"),
        ("empty", "--source", r"empty\.parquet"),
        ("fewer", "--target", r"fewer\.parquet.*f4"),
        ("no-label", "--source", r"no-label\.parquet.*label"),
        ("more", "--target", r"more\.parquet has 1 numeric column.*'f5'.*--features"),
        ("twice", "--source", r"twice\.parquet has 1 column name.*'f1'"),
    ],
)
def test_bad_tables_fail_cleanly_at_the_command_line(
    toy_files: tuple[Path, Path], tmp_path: Path, kind: str, role: str, message: str
) -> None:
    bad = _bad_table(kind, toy_files[0], tmp_path)
    files = {
        "--source": str(toy_files[0]),
        "--target": str(toy_files[1]),
        role: str(bad),
    }
    argv = ["train", "--out", str(tmp_path / "run"), "--no-progress", "--epochs", "1"]
    if kind == "text":
        argv += ["--features", "f0,f1,f2,f3,f4"]
    for key, value in files.items():
        argv += [key, value]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output, re.DOTALL), result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("tpu", "device: expected 'cpu', 'cuda', 'cuda:N' or 'mps', got 'tpu'"),
        ("cuda:x", "got 'cuda:x'"),
        ("cuda:99", "cuda:99"),
    ],
)
def test_unusable_device_is_named_before_anything_runs(
    toy_files: tuple[Path, Path], tmp_path: Path, device: str, message: str
) -> None:
    code, output = _train(toy_files, tmp_path / "run", "--device", device)
    assert code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_says_so(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    code, output = _train(toy_files, tmp_path / "run", "--device", "cuda")
    assert code == 2, output
    assert "'cuda' needs a CUDA GPU" in output and "--device cpu" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("out = 3", "out in the --config file: expected a directory path"),
        ("source = 5", "source in the --config file: expected a path or a list"),
        ('target = ["ok.parquet", 2]', "target in the --config file"),
    ],
)
def test_config_file_inputs_of_the_wrong_type(
    toy_files: tuple[Path, Path], tmp_path: Path, text: str, message: str
) -> None:
    values = {
        "source": f'source = "{toy_files[0]}"',  # one path, not a list: accepted
        "target": f'target = ["{toy_files[1]}"]',
        "out": f'out = "{tmp_path / "run"}"',
    }
    values[text.split()[0]] = text
    cfg = tmp_path / "train.toml"
    cfg.write_text("\n".join([*values.values(), "epochs = 1", "hidden = [4]"]) + "\n")
    result = CliRunner().invoke(main, ["train", "--config", str(cfg), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_relative_inputs_are_recorded_absolute_and_resume_elsewhere(
    toy_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(toy_files[0].parent)
    run = tmp_path / "run"
    code, output = _train(
        (Path("s1.parquet"), Path("s2.parquet")), run, "--epochs", "2"
    )
    assert code == 0, output
    stored = tomllib.loads((run / "config.toml").read_text())
    assert stored["source"] == [str(toy_files[0].resolve())]
    assert stored["target"] == [str(toy_files[1].resolve())]

    # As if the run had been killed after epoch 1 (the checkpoint rewound),
    # then resumed from another working directory: the inputs are still found.
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    state["epoch"] = 1
    state["history"] = [h[:1] for h in state["history"]]
    torch.save(state, run / "checkpoint.pt")
    (run / "metrics.json").unlink()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    with (run / "history.csv").open() as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2]
    assert (run / "metrics.json").is_file()


def _evaluate(run_dir: Path, source: Path, target: Path, out: Path) -> Result:
    argv = ["evaluate", "--run", str(run_dir), "--source", str(source)]
    argv += ["--target", str(target), "--out", str(out)]
    return CliRunner().invoke(main, argv)


def test_evaluate_scores_other_samples(
    run_dir: Path, toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    result = _evaluate(run_dir, toy_files[0], toy_files[1], out)
    assert result.exit_code == 0, result.output
    scores = pq.read_table(out / "scores.parquet").to_pydict()
    train_scores = pq.read_table(run_dir / "scores.parquet").to_pydict()

    # the same events scored by the same model give the same scores
    def key(d):
        return {
            (a, b): c
            for a, b, c in zip(d["domain"], d["event_number"], d["score"], strict=False)
        }

    ours, theirs = key(scores), key(train_scores)
    assert ours.keys() == theirs.keys()
    assert max(abs(ours[k] - theirs[k]) for k in ours) < 1e-5
    metrics = json.loads((out / "metrics.json").read_text())
    sel = np.array(scores["domain"]) == "target"
    ref = roc_auc_score(
        np.array(scores["label"])[sel],
        np.array(scores["score"])[sel],
        sample_weight=np.array(scores["weight"])[sel],
    )
    assert metrics["auc_s2"] == pytest.approx(ref, abs=1e-6)
    assert metrics["diverged"] is False and metrics["diverged_epoch"] is None

    # The proxy A-distance of the inputs, from the checkpoint's standardisation
    # and the background events (disc_mode background) of both samples.
    from hepda.metrics import proxy_a_distance

    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    mean = np.array(state["standardizer"]["mean"])
    scale = np.array(state["standardizer"]["scale"])
    inputs = []
    for path in toy_files:
        table = pq.read_table(path)
        bkg = table.column("label").to_numpy() == 0
        x = np.stack([table.column(f"f{i}").to_numpy() for i in range(5)], axis=1)
        x = (x[bkg] - mean.astype(np.float32)) / scale.astype(np.float32)
        inputs.append((x, table.column("weight").to_numpy()[bkg]))
    (xs, ws), (xt, wt) = inputs
    ref_pad = proxy_a_distance(xs, xt, ws, wt, seed=0)
    assert metrics["proxy_a_distance_input"] == pytest.approx(ref_pad, abs=1e-6)
    assert 0.0 <= metrics["proxy_a_distance_features"] <= 2.0


def test_evaluate_names_a_sample_without_signal(
    run_dir: Path, toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    table = pq.read_table(toy_files[0])
    bkg_only = tmp_path / "bkg_only.parquet"
    pq.write_table(table.filter(pc.equal(table.column("label"), 0)), bkg_only)
    result = _evaluate(run_dir, bkg_only, toy_files[1], tmp_path / "eval")
    assert result.exit_code == 2, result.output
    assert "source sample" in result.output and "bkg_only.parquet" in result.output
    assert "signal events (label 1)" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "eval").exists()


def _hepda(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "hepda", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err.decode()


def _wait_for_epochs(
    run: Path, n: int, proc: subprocess.Popen[bytes], timeout: float = 120
) -> None:
    import torch

    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, _finish(proc)[1]
        ckpt = run / "checkpoint.pt"
        if ckpt.exists():
            try:
                if torch.load(ckpt, weights_only=False)["epoch"] >= n:
                    return
            except Exception:
                pass
        time.sleep(0.05)
    pytest.fail("training did not reach the epoch in time")


def test_killed_run_resumes_to_the_same_result(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    args = [
        "--source",
        str(toy_files[0]),
        "--target",
        str(toy_files[1]),
        "--epochs",
        "30",
        "--batch-size",
        "100",
        "--hidden",
        "8,6",
        "--no-progress",
    ]
    full = tmp_path / "full"
    code, err = _finish(_hepda("train", "--out", str(full), *args))
    assert code == 0, err

    killed = tmp_path / "killed"
    proc = _hepda("train", "--out", str(killed), *args)
    _wait_for_epochs(killed, 5, proc)
    proc.send_signal(signal.SIGKILL)
    _finish(proc)
    assert not (killed / "metrics.json").exists()

    code, err = _finish(_hepda("train", "--resume", str(killed), "--no-progress"))
    assert code == 0, err
    assert (killed / "history.csv").read_text() == (full / "history.csv").read_text()
    a = pq.read_table(killed / "scores.parquet").to_pydict()
    b = pq.read_table(full / "scores.parquet").to_pydict()
    assert a == b


def test_ctrl_c_saves_and_the_run_can_resume(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    run = tmp_path / "run"
    args = [
        "--source",
        str(toy_files[0]),
        "--target",
        str(toy_files[1]),
        "--out",
        str(run),
        "--epochs",
        "60",
        "--batch-size",
        "100",
        "--hidden",
        "8",
        "--no-progress",
    ]
    proc = _hepda("train", *args)
    _wait_for_epochs(run, 2, proc)
    proc.send_signal(signal.SIGINT)
    code, err = _finish(proc)
    assert code == 130, err
    assert "Traceback" not in err
    assert "--resume" in err
    epoch = torch.load(run / "checkpoint.pt", weights_only=False)["epoch"]
    assert 2 <= epoch < 60
    assert not (
        run / "metrics.json"
    ).exists()  # a stopped run does not pose as finished

    code, err = _finish(_hepda("train", "--resume", str(run), "--no-progress"))
    assert code == 0, err
    with (run / "history.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 60


def test_bad_input_never_replaces_an_existing_run(
    toy_files: tuple[Path, Path], run_dir: Path, tmp_path: Path
) -> None:
    """With --overwrite and a bad input, the old run stays as it was."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    result = CliRunner().invoke(
        main,
        ["train", "--source", str(toy_files[0]), "--target", str(toy_files[1]),
         "--out", str(copy), "--features", "f0,nope", "--overwrite", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 2 and "nope" in result.output
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before

    bad_eval = CliRunner().invoke(
        main,
        ["evaluate", "--run", str(copy), "--source", str(tmp_path / "missing.parquet"),
         "--target", str(toy_files[1]), "--out", str(tmp_path / "ev")],
    )  # fmt: skip
    assert bad_eval.exit_code == 2 and "missing.parquet" in bad_eval.output
    assert not (tmp_path / "ev").exists()


def test_bad_input_never_replaces_an_existing_scan(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "scan"
    base = ["scan", "--source", str(toy_files[0]), "--target", str(toy_files[1]),
            "--out", str(out), "--lambdas", "0,1", "--epochs", "1", "--hidden", "4",
            "--batch-size", "500", "--no-progress"]  # fmt: skip
    first = CliRunner().invoke(main, base)
    assert first.exit_code == 0, first.output
    before = (out / "scan.csv").read_bytes()
    again = CliRunner().invoke(main, [*base, "--features", "f0,nope", "--overwrite"])
    assert again.exit_code == 2 and "nope" in again.output
    assert (out / "scan.csv").read_bytes() == before


def test_column_names_from_the_config_file(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """label_column, weight_column and event_number_column rename the columns
    of fixed meaning; the renamed weights and labels reach scores.parquet."""
    renames = {"label": "is_signal", "weight": "xsec_w", "event_number": "evt"}
    paths = []
    for i, path in enumerate(toy_files):
        table = pq.read_table(path)
        table = table.rename_columns([renames.get(c, c) for c in table.column_names])
        paths.append(tmp_path / f"renamed{i}.parquet")
        pq.write_table(table, paths[-1])
    config = tmp_path / "cols.toml"
    config.write_text(
        'label_column = "is_signal"\nweight_column = "xsec_w"\n'
        'event_number_column = "evt"\nfeatures = ["f0", "f1", "f2", "f3", "f4"]\n'
    )
    code, output = _train(
        (paths[0], paths[1]), tmp_path / "run", "--config", str(config)
    )
    assert code == 0, output
    scores = pq.read_table(tmp_path / "run" / "scores.parquet").to_pandas()
    source = pq.read_table(paths[0]).to_pandas().set_index("evt")
    mine = scores[scores["domain"] == "source"].set_index("event_number")
    assert len(mine) == len(source)
    np.testing.assert_array_equal(
        mine["label"], source.loc[mine.index, "is_signal"].to_numpy()
    )
    np.testing.assert_allclose(mine["weight"], source.loc[mine.index, "xsec_w"])
    # without the keys, the renamed label column is not found, and is named
    code, output = _train((paths[0], paths[1]), tmp_path / "run2")
    assert code == 2 and "Traceback" not in output
    assert "has no label column 'label'" in output and "label_column" in output


def test_a_diverged_run_exits_2_with_the_reason(
    toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code, output = _train(
        toy_files, out, "--optimizer", "nesterov", "--lr", "1e6", "--lambda", "5"
    )
    assert code == 2
    assert "diverged in epoch" in output and "smaller lambda" in output
    # the summary of the kept model comes first
    assert f"hepda train: {out} (diverged)" in output and "AUC on S1" in output
    assert "Traceback" not in output
    assert json.loads((out / "metrics.json").read_text())["diverged"] is True


def test_evaluate_never_replaces_a_training_run(
    run_dir: Path, toy_files: tuple[Path, Path], tmp_path: Path
) -> None:
    import shutil

    victim = tmp_path / "victim"
    shutil.copytree(run_dir, victim)
    before = sorted(p.name for p in victim.iterdir())
    argv = ["evaluate", "--run", str(run_dir), "--source", str(toy_files[0])]
    argv += ["--target", str(toy_files[1]), "--out", str(victim), "--overwrite"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2
    assert "holds a training run (checkpoint.pt)" in result.output
    assert sorted(p.name for p in victim.iterdir()) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data-seed", str(10**15)], "data_seed: expected an integer"),
        (["--val-fraction", "0.999"], "the training events hold only label(s)"),
    ],
)
def test_train_overwrite_with_a_bad_setting_keeps_the_earlier_run(
    run_dir: Path,
    toy_files: tuple[Path, Path],
    tmp_path: Path,
    extra: list[str],
    message: str,
) -> None:
    import shutil

    earlier = tmp_path / "earlier"
    shutil.copytree(run_dir, earlier)
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    code, output = _train(toy_files, earlier, "--overwrite", *extra)
    assert code == 2 and message in output and "Traceback" not in output
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before


def _resume(run: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--no-progress"])
    return result.exit_code, result.output


def test_resume_finishes_a_run_stopped_after_its_last_checkpoint(
    run_dir: Path, tmp_path: Path
) -> None:
    """Stopped between the last checkpoint and the outputs: resume writes them."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    expected = pq.read_table(run / "scores.parquet")
    for name in ("history.csv", "scores.parquet", "metrics.json"):
        (run / name).unlink()
    code, output = _resume(run)
    assert code == 0, output
    assert pq.read_table(run / "scores.parquet").equals(expected)
    assert json.loads((run / "metrics.json").read_text()) == json.loads(
        (run_dir / "metrics.json").read_text()
    )
    code, output = _resume(run)  # now complete
    assert code == 2 and "already complete" in output


def test_resume_reports_a_damaged_config_and_other_options(
    run_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from hepda.config import dump_toml

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    config = (run / "config.toml").read_text()
    parsed = tomllib.loads(config)
    cases = [
        (config.replace("hidden = [", "hidden = [9, "), "differs from the run's"),
        (dump_toml({k: v for k, v in parsed.items() if k != "source"}), "lacks source"),
        (config.replace("epochs = 4", 'epochs = "x"'), "epochs: expected"),
    ]
    for text, message in cases:
        (run / "config.toml").write_text(text)
        code, output = _resume(run)
        assert code == 2, output
        assert message in output and "Traceback" not in output
    (run / "config.toml").write_bytes(b"\xff\xfe not utf-8")
    code, output = _resume(run)
    assert code == 2 and "not valid" in output and "Traceback" not in output
    for extra in (["--out", str(tmp_path / "x")], ["--overwrite"]):
        result = CliRunner().invoke(main, ["train", "--resume", str(run), *extra])
        assert result.exit_code == 2 and "give no other options" in result.output
    # epochs may not go below the epochs already trained
    (run / "config.toml").write_text(config.replace("epochs = 4", "epochs = 2"))
    code, output = _resume(run)
    assert code == 2 and "epochs (below the 4 already trained)" in output


def test_out_as_the_working_directory_or_a_link(
    run_dir: Path,
    toy_files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    earlier = tmp_path / "scratch" / "run"
    shutil.copytree(run_dir, earlier)
    monkeypatch.chdir(earlier)
    code, output = _train(toy_files, Path("."), "--overwrite")
    assert code == 2 and "is the working directory or holds it" in output
    assert (earlier / "checkpoint.pt").is_file()
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "run-link"
    link.symlink_to(earlier, target_is_directory=True)
    code, output = _train(toy_files, link, "--overwrite", "--epochs", "1")
    assert code == 0, output
    assert link.is_symlink() and (earlier / "metrics.json").is_file()
    with (earlier / "history.csv").open() as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1]
