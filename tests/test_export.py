"""hepda export: the exported files, run by ONNX Runtime and TorchScript,
against hepda."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from onnx.external_data_helper import uses_external_data

import hepda
from hepda.cli import main
from hepda.config import TrainConfig
from hepda.data.events import load_events
from hepda.errors import (
    ConfigError,
    InputFileError,
    MissingDependencyError,
    RunDirectoryError,
)
from hepda.export import (
    _verify_onnx,
    build_onnx_model,
    export_model,
    export_onnx,
    export_torchscript,
    load_export_model,
    read_onnx_metadata,
    read_torchscript_metadata,
)
from hepda.runs import (
    CHECKPOINT_FILE,
    classifier_from_checkpoint,
    load_checkpoint,
    load_classifier,
    score_events,
    train_run,
)

NAMES = ("m_bb", "pt_lep", "n_jets", "dr_bb", "ht")
N_PER_CLASS = 2500  # two domains of 5000 events: 10k scored events

# The module trains one small model (a few seconds, most of it imports).
pytestmark = pytest.mark.slow

jit_deprecated = pytest.mark.filterwarnings(
    "ignore:`torch.jit.load` is deprecated:DeprecationWarning"
)


def _domain(seed: int, shift: float, start: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = 2 * N_PER_CLASS
    label = np.repeat(np.array([1, 0], dtype=np.int8), N_PER_CLASS)
    # Different scales and offsets per column, so the standardisation matters.
    x = rng.normal(size=(n, len(NAMES))) * [40.0, 25.0, 1.5, 0.8, 120.0]
    x += [110.0, 60.0, 6.0, 2.0, 500.0]
    x[label == 1, 0] += 15.0
    x[label == 0, 4] += 80.0 * shift
    columns: dict[str, Any] = {
        name: x[:, i].astype(np.float32) for i, name in enumerate(NAMES)
    }
    columns["label"] = label
    columns["weight"] = rng.uniform(0.5, 1.5, n)
    columns["event_number"] = np.arange(start, start + n, dtype=np.int64)
    return pa.table(columns)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 2-epoch hepda run on 5000 + 5000 events, and the inputs it scored."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("export")
    s1, s2 = d / "s1.parquet", d / "s2.parquet"
    t1, t2 = _domain(1, 0.0, 0), _domain(2, 1.0, 100_000)
    pq.write_table(t1, s1)
    pq.write_table(t2, s2)
    run_dir = d / "run"
    run_dir.mkdir()
    config = TrainConfig(hidden=(16, 8), epochs=2, batch_size=1000, lambda_=0.7)
    train_run([str(s1)], [str(s2)], config, run_dir)

    # Features of the scored events, in scores.parquet's row order, read
    # straight from the input files by event number.
    scores = pq.read_table(run_dir / "scores.parquet")
    both = pa.concat_tables([t1, t2])
    row_of = {int(e): i for i, e in enumerate(both["event_number"].to_numpy())}
    rows = [row_of[int(e)] for e in scores["event_number"].to_numpy()]
    x = np.stack([both[n].to_numpy() for n in NAMES], axis=1)[rows]
    return {
        "dir": run_dir,
        "sources": (s1, s2),
        "x": np.ascontiguousarray(x, dtype=np.float32),
        "score": scores["score"].to_numpy(),
    }


@pytest.fixture(scope="module")
def onnx_file(run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return export_onnx(run["dir"], out)


@pytest.fixture(scope="module")
def ts_file(run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ts") / "model.pt"
    return export_torchscript(run["dir"], out)


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(path), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def _copy_run(run: dict[str, Any], dest: Path, edit: Any) -> Path:
    """A copy of the run directory whose checkpoint ``edit(state)`` has changed."""
    shutil.copytree(run["dir"], dest)
    state = load_checkpoint(dest)
    edit(state)
    torch.save(state, dest / CHECKPOINT_FILE)
    return dest


# ----------------------------------------------------------- same scores


def test_onnx_runtime_reproduces_hepda_scores(
    run: dict[str, Any], onnx_file: Path
) -> None:
    (score,) = _session(onnx_file).run(["score"], {"features": run["x"]})
    assert score.shape == (10_000,)
    assert score.dtype == np.float32
    np.testing.assert_allclose(score, run["score"], rtol=0, atol=1e-5)
    assert score.min() >= 0.0
    assert score.max() <= 1.0
    assert np.ptp(score) > 0.05  # a trained model, not a constant


def test_onnx_matches_score_events_on_loaded_tables(
    run: dict[str, Any], onnx_file: Path
) -> None:
    s1, _ = run["sources"]
    events = load_events([str(s1)], features=list(NAMES))
    clf, _, _ = load_classifier(run["dir"])
    expected = score_events(clf, events)
    (score,) = _session(onnx_file).run(None, {"features": events.features})
    np.testing.assert_allclose(score, expected, rtol=0, atol=1e-5)


@jit_deprecated
def test_torchscript_reproduces_hepda_scores(
    run: dict[str, Any], ts_file: Path
) -> None:
    module = torch.jit.load(str(ts_file))
    with torch.no_grad():
        score = module(torch.from_numpy(run["x"])).numpy()
    assert score.shape == (10_000,)
    assert score.dtype == np.float32
    np.testing.assert_allclose(score, run["score"], rtol=0, atol=1e-5)


# ------------------------------------------------------ interface and batch


def test_onnx_input_and_output_names_types_and_shapes(onnx_file: Path) -> None:
    sess = _session(onnx_file)
    (inp,) = sess.get_inputs()
    (out,) = sess.get_outputs()
    assert (inp.name, inp.type) == ("features", "tensor(float)")
    assert (out.name, out.type) == ("score", "tensor(float)")
    assert isinstance(inp.shape[0], str)  # symbolic: any batch size
    assert inp.shape[1] == len(NAMES)
    assert out.shape == inp.shape[:1]


@pytest.mark.parametrize("batch", [1, 7, 10_000])
def test_onnx_dynamic_batch(run: dict[str, Any], onnx_file: Path, batch: int) -> None:
    (score,) = _session(onnx_file).run(None, {"features": run["x"][-batch:]})
    assert score.shape == (batch,)
    np.testing.assert_allclose(score, run["score"][-batch:], rtol=0, atol=1e-5)


@jit_deprecated
@pytest.mark.parametrize("batch", [1, 7, 10_000])
def test_torchscript_dynamic_batch(
    run: dict[str, Any], ts_file: Path, batch: int
) -> None:
    module = torch.jit.load(str(ts_file))
    with torch.no_grad():
        score = module(torch.from_numpy(run["x"][:batch])).numpy()
    assert score.shape == (batch,)
    np.testing.assert_allclose(score, run["score"][:batch], rtol=0, atol=1e-5)


def test_onnx_rejects_wrong_feature_count(onnx_file: Path) -> None:
    x = np.zeros((3, len(NAMES) + 1), dtype=np.float32)
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument):
        _session(onnx_file).run(None, {"features": x})


# ---------------------------------------------------------- file and metadata


def test_onnx_file_is_single_and_valid(run: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "deploy" / "classifier.onnx"
    export_onnx(run["dir"], out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["classifier.onnx"]

    onnx.checker.check_model(str(out), full_check=True)
    model = onnx.load(str(out), load_external_data=False)
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    assert shapes["mean"] == shapes["scale"] == (len(NAMES),)
    assert [shapes[f"layer{i}.weight"] for i in range(3)] == [(16, 5), (8, 16), (1, 8)]
    assert not any(uses_external_data(t) for t in model.graph.initializer)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert model.ir_version == 8
    # Classifier branch only: one Sigmoid, and Gemms for 2 hidden layers + G_y.
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Gemm") == 3
    assert ops.count("Sigmoid") == 1


def test_onnx_metadata_round_trip(run: dict[str, Any], onnx_file: Path) -> None:
    meta = read_onnx_metadata(onnx_file)
    assert json.loads(meta["feature_names"]) == list(NAMES)
    assert meta["hepda_version"] == hepda.__version__
    assert float(meta["lambda"]) == pytest.approx(0.7)
    assert json.loads(meta["hidden"]) == [16, 8]
    assert meta["model"] == "last"
    assert meta["n_features"] == str(len(NAMES))
    assert json.loads(meta["config"])["epochs"] == 2

    # A second reader: ONNX Runtime's own view of the same properties.
    ort_meta = _session(onnx_file).get_modelmeta()
    assert ort_meta.custom_metadata_map == meta
    assert ort_meta.producer_name == "hepda"
    assert "features" in ort_meta.description
    assert "standardisation" in ort_meta.description


@jit_deprecated
def test_torchscript_extra_files_hold_the_metadata(
    onnx_file: Path, ts_file: Path
) -> None:
    extra = {"feature_names.json": "", "hepda_metadata.json": ""}
    torch.jit.load(str(ts_file), _extra_files=extra)
    assert json.loads(extra["feature_names.json"]) == list(NAMES)
    assert json.loads(extra["hepda_metadata.json"]) == read_onnx_metadata(onnx_file)
    assert read_torchscript_metadata(ts_file) == read_onnx_metadata(onnx_file)


# --------------------------------------------------- precision and model pick


def test_float64_run_exports_float32(run: dict[str, Any], tmp_path: Path) -> None:
    def to_float64(state: dict[str, Any]) -> None:
        for key in ("model", "best_model"):
            state[key] = {k: v.double() for k, v in state[key].items()}

    run64 = _copy_run(run, tmp_path / "run64", to_float64)
    clf64, _, _ = load_classifier(run64)
    assert clf64.mean.dtype == torch.float64
    with torch.no_grad():
        expected = clf64(torch.from_numpy(run["x"]).double()).numpy()

    path = export_onnx(run64, tmp_path / "m64.onnx")
    sess = _session(path)
    assert sess.get_inputs()[0].type == "tensor(float)"
    (score,) = sess.run(None, {"features": run["x"]})
    np.testing.assert_allclose(score, expected, rtol=0, atol=1e-5)
    assert read_onnx_metadata(path)["trained_dtype"] == "float64"


def test_best_model_is_exported_when_asked(run: dict[str, Any], tmp_path: Path) -> None:
    def shift_best(state: dict[str, Any]) -> None:
        state["best_model"] = {k: v.clone() for k, v in state["model"].items()}
        state["best_model"]["label_head.bias"] += 2.0

    run_b = _copy_run(run, tmp_path / "run_b", shift_best)
    best = classifier_from_checkpoint(load_checkpoint(run_b), which="best")
    with torch.no_grad():
        expected = best(torch.from_numpy(run["x"])).numpy()

    path = export_model(run_b, tmp_path / "best.onnx", which="best")
    (score,) = _session(path).run(None, {"features": run["x"]})
    np.testing.assert_allclose(score, expected, rtol=0, atol=1e-5)
    assert np.min(score - run["score"]) > 0.0  # differs from the last model
    assert read_onnx_metadata(path)["model"] == "best"


def test_verification_catches_a_graph_that_disagrees(run: dict[str, Any]) -> None:
    clf, meta = load_export_model(run["dir"])
    model = build_onnx_model(clf, meta)
    with torch.no_grad():
        clf.head.bias += 0.5
    with pytest.raises(RuntimeError, match="does not reproduce"):
        _verify_onnx(model, clf)


# ------------------------------------------------------------------ errors


def test_missing_run_directory(tmp_path: Path) -> None:
    with pytest.raises(RunDirectoryError, match="does not exist"):
        export_onnx(tmp_path / "nope", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_directory_without_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(RunDirectoryError, match=r"no checkpoint\.pt"):
        export_torchscript(tmp_path, tmp_path / "m.pt")


def test_existing_file_needs_overwrite(run: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(RunDirectoryError, match="--overwrite"):
        export_onnx(run["dir"], out)
    assert out.read_bytes() == b"keep me"

    export_onnx(run["dir"], out, overwrite=True)
    assert json.loads(read_onnx_metadata(out)["feature_names"]) == list(NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_out_is_a_directory(run: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(RunDirectoryError, match="is a directory"):
        export_onnx(run["dir"], tmp_path, overwrite=True)


def test_unknown_format_and_suffix(run: dict[str, Any], tmp_path: Path) -> None:
    bad_format: Any = "keras"
    bad_model: Any = "first"
    with pytest.raises(ConfigError, match="export format"):
        export_model(run["dir"], tmp_path / "m.onnx", format=bad_format)
    with pytest.raises(ConfigError, match=r"--format onnx\|torchscript"):
        export_model(run["dir"], tmp_path / "m.h5")
    with pytest.raises(ConfigError, match="--model"):
        export_onnx(run["dir"], tmp_path / "m.onnx", which=bad_model)
    with pytest.raises(ConfigError, match="from 0 to 0"):
        export_onnx(run["dir"], tmp_path / "m.onnx", member=1)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing(
    run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_save(module: Any, f: str, **kwargs: Any) -> None:
        Path(f).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch.jit, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export_torchscript(run["dir"], tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_package_names_the_install_command(
    run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'hepda\[onnx\]'"):
        export_onnx(run["dir"], tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_read_metadata_of_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        read_onnx_metadata(tmp_path / "none.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\x00 not protobuf")
    with pytest.raises(InputFileError, match="cannot read"):
        read_onnx_metadata(junk)
    with pytest.raises(InputFileError, match="not a TorchScript file"):
        read_torchscript_metadata(junk)


# ---------------------------------------------------------------------- CLI


def test_cli_export_onnx_then_refuses_to_overwrite(
    run: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "model.onnx"
    args = ["export", "--run", str(run["dir"]), "--out", str(out)]
    first = CliRunner().invoke(main, [*args, "--model", "best"])
    assert first.exit_code == 0, first.output
    assert "features: float32 (batch, 5)" in first.output
    assert read_onnx_metadata(out)["model"] == "best"

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2
    assert "exists; pass --overwrite" in again.output
    assert read_onnx_metadata(out)["model"] == "best"

    forced = CliRunner().invoke(main, [*args, "--overwrite"])
    assert forced.exit_code == 0, forced.output
    assert read_onnx_metadata(out)["model"] == "last"


@jit_deprecated
def test_cli_torchscript_by_format_option(run: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "model.bin"
    args = ["export", "--run", str(run["dir"]), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    module = torch.jit.load(str(out))
    with torch.no_grad():
        score = module(torch.from_numpy(run["x"][:50])).numpy()
    np.testing.assert_allclose(score, run["score"][:50], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "keras"], "Invalid value for '--format'"),
        ([], "cannot tell the export format"),
    ],
)
def test_cli_wrong_format(
    run: dict[str, Any], tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["export", "--run", str(run["dir"]), "--out", str(tmp_path / "m.h5")]
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_run(tmp_path: Path) -> None:
    args = [
        "export",
        "--run",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "m.onnx"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "does not exist" in result.output
