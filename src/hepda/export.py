"""Export the classifier of a trained run for deployment: ONNX and TorchScript.

Only the classifier branch is exported, G_y(G_f(x)) with its sigmoid; the
domain head G_d is a training device and has no use downstream. The
standardisation fitted on the source training sample is part of the graph,
so the file takes raw features:

    input  ``features``  float32 (batch, n_features), columns in the order of
                         the ``feature_names`` metadata, batch size free
    output ``score``     float32 (batch,), sigmoid output in [0, 1]

The output is one-dimensional, as ``hepda.runs.score_events`` returns it; a
framework that wants (batch, 1) reshapes the buffer it reads, the data are
the same. The export is float32 whatever precision the run was trained in.

The ONNX graph is written directly with ``onnx.helper`` (Sub, Div, Gemm,
Relu, Sigmoid, Squeeze) rather than traced: the network is a handful of
dense layers, and building it by hand needs no exporter, pins the opset
and IR version that older ONNX Runtime releases read (opset 17, IR 8,
ONNX Runtime 1.12 and later), and keeps the file self-contained (no
external data). Each ONNX export is checked with ``onnx.checker`` and
evaluated against the PyTorch classifier before it is written.
"""

from __future__ import annotations

import json
import logging
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import torch

from hepda._atomic import atomic_path, write_bytes
from hepda._extras import require
from hepda.errors import ConfigError, InputFileError, RunDirectoryError

if TYPE_CHECKING:
    from hepda.model import DANNClassifier

log = logging.getLogger(__name__)

ExportFormat = Literal["onnx", "torchscript"]
Which = Literal["last", "best"]

INPUT_NAME = "features"
OUTPUT_NAME = "score"
ONNX_OPSET = 17
ONNX_IR_VERSION = 8
# Names of the files stored inside a TorchScript archive (``_extra_files``).
TS_FEATURES_FILE = "feature_names.json"
TS_METADATA_FILE = "hepda_metadata.json"

_SUFFIX_FORMATS: dict[str, ExportFormat] = {
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".ts": "torchscript",
    ".torchscript": "torchscript",
}


# ----------------------------------------------------------------- the model


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        msg = f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        raise ConfigError(msg)


def load_export_model(
    run_dir: str | Path, *, which: Which = "last", member: int = 0
) -> tuple[DANNClassifier, dict[str, str]]:
    """The float32 classifier of a run and the metadata that goes with it.

    ``which`` picks the last epoch's model or the best epoch's; ``member``
    one model of a checkpoint that holds several (0 for ``hepda train``).
    The metadata values are strings, as ONNX ``metadata_props`` hold them;
    lists (feature names, hidden widths) and the training configuration
    are JSON.
    """
    from hepda import __version__
    from hepda.runs import classifier_from_checkpoint, load_checkpoint

    _check_choice(which, get_args(Which), "the model to export (--model)")
    state = load_checkpoint(Path(run_dir))
    n_members = len(state["members"])
    if not 0 <= member < n_members:
        msg = (
            f"member {member!r} does not exist: {run_dir!s} holds {n_members} "
            f"model(s); give a member from 0 to {n_members - 1}"
        )
        raise ConfigError(msg)

    clf = classifier_from_checkpoint(state, member=member, which=which)
    trained_dtype = str(clf.get_buffer("mean").dtype).removeprefix("torch.")
    clf = clf.float().eval()

    names = [str(n) for n in state["feature_names"]]
    best_epoch = state.get("best_epoch", [-1] * n_members)[member]
    meta = {
        "hepda_version": __version__,
        "feature_names": json.dumps(names),
        "n_features": str(len(names)),
        "hidden": json.dumps([int(h) for h in state["hidden"]]),
        "lambda": repr(float(state["members"][member]["lambda"])),
        "seed": str(int(state["members"][member]["seed"])),
        "member": str(member),
        "model": which,
        "epochs_trained": str(int(state.get("epoch", 0))),
        "best_epoch": str(int(best_epoch) + 1),  # 1-based, 0: none recorded
        "trained_dtype": trained_dtype,
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "config": json.dumps(state.get("config", {}), sort_keys=True, default=str),
    }
    return clf, meta


def _doc_string(meta: Mapping[str, str]) -> str:
    return (
        f"hepda {meta['hepda_version']} DANN event classifier (classifier branch "
        f"only, lambda = {meta['lambda']}, hidden = {meta['hidden']}, "
        f"{meta['model']} model). Input '{INPUT_NAME}': float32 "
        f"(batch, {meta['n_features']}) raw features in the order of the "
        f"'feature_names' metadata; standardisation is inside the graph. "
        f"Output '{OUTPUT_NAME}': float32 (batch,), in [0, 1], signal-like near 1."
    )


def _check_out(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        msg = (
            f"output {str(path)!r} is a directory; give a file path such as "
            f"{str(path / 'model.onnx')!r}"
        )
        raise RunDirectoryError(msg)
    if path.exists() and not overwrite:
        msg = (
            f"output file {str(path)!r} exists; pass --overwrite (overwrite=True) "
            "to replace it or choose another path"
        )
        raise RunDirectoryError(msg)


# ---------------------------------------------------------------------- ONNX


def build_onnx_model(clf: DANNClassifier, meta: Mapping[str, str]) -> Any:
    """The ONNX ``ModelProto`` computing ``clf`` in float32, with ``meta`` attached.

    Graph: Sub(mean), Div(scale), then Gemm + Relu per hidden layer, the
    label head's Gemm, Sigmoid, and Squeeze to (batch,). The weights keep
    ``nn.Linear``'s (out, in) layout, hence ``transB = 1``.
    """
    onnx = require("onnx", "export a classifier to ONNX")
    from onnx import TensorProto, helper, numpy_helper

    def init(name: str, value: torch.Tensor | np.ndarray) -> Any:
        arr = np.asarray(
            value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        )
        return numpy_helper.from_array(arr, name)

    mean, scale = clf.get_buffer("mean"), clf.get_buffer("scale")
    n_features = int(mean.numel())
    inits = [init("mean", mean.float()), init("scale", scale.float())]
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "mean"], ["centred"], name="centre"),
        helper.make_node("Div", ["centred", "scale"], ["h0"], name="standardise"),
    ]

    # G_f: one Gemm + Relu per hidden layer.
    layers = [*clf.hidden, clf.head]
    for i, lin in enumerate(layers):
        w, b = f"layer{i}.weight", f"layer{i}.bias"
        inits += [init(w, lin.weight.float()), init(b, lin.bias.float())]
        out = f"z{i + 1}" if lin is not clf.head else "logit"
        nodes.append(
            helper.make_node("Gemm", [f"h{i}", w, b], [out], name=f"dense{i}", transB=1)
        )
        if lin is not clf.head:
            nodes.append(
                helper.make_node("Relu", [out], [f"h{i + 1}"], name=f"relu{i}")
            )

    # G_y's sigmoid, then (batch, 1) -> (batch,).
    inits.append(init("squeeze_axes", np.array([1], dtype=np.int64)))
    nodes += [
        helper.make_node("Sigmoid", ["logit"], ["prob"], name="sigmoid"),
        helper.make_node(
            "Squeeze", ["prob", "squeeze_axes"], [OUTPUT_NAME], name="to_1d"
        ),
    ]

    graph = helper.make_graph(
        nodes,
        "hepda_dann_classifier",
        [
            helper.make_tensor_value_info(
                INPUT_NAME,
                TensorProto.FLOAT,
                ["batch", n_features],
                doc_string=(
                    f"raw features, columns in this order: {meta['feature_names']}"
                ),
            )
        ],
        [
            helper.make_tensor_value_info(
                OUTPUT_NAME,
                TensorProto.FLOAT,
                ["batch"],
                doc_string="classifier score in [0, 1], signal-like near 1",
            )
        ],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="hepda",
        producer_version=meta["hepda_version"],
        doc_string=_doc_string(meta),
    )
    model.ir_version = ONNX_IR_VERSION
    helper.set_model_props(model, dict(meta))
    onnx.checker.check_model(model, full_check=True)
    return model


def _verify_onnx(model: Any, clf: DANNClassifier) -> None:
    """Evaluate the graph with ONNX's reference runtime against ``clf``."""
    from onnx.reference import ReferenceEvaluator

    mean, scale = clf.get_buffer("mean"), clf.get_buffer("scale")
    gen = torch.Generator().manual_seed(0)
    x = mean + scale * torch.randn(64, mean.numel(), generator=gen, dtype=mean.dtype)
    with torch.no_grad():
        expected = clf(x).numpy()
    (out,) = ReferenceEvaluator(model).run(None, {INPUT_NAME: x.numpy()})
    got = np.asarray(out)
    if got.shape != expected.shape or not np.allclose(got, expected, atol=1e-5):
        msg = (
            "the ONNX graph does not reproduce the PyTorch classifier "
            f"(largest difference {np.max(np.abs(got - expected)):.3g}); "
            "this is a bug in hepda.export, please report it"
        )
        raise RuntimeError(msg)


def export_onnx(
    run_dir: str | Path,
    path: str | Path,
    *,
    which: Which = "last",
    member: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write the classifier of ``run_dir`` to ``path`` as one ONNX file.

    The file holds the float32 graph (see the module docstring for its
    input and output), opset 17, and the metadata of
    :func:`load_export_model` as ``metadata_props``; read them back with
    :func:`read_onnx_metadata`. An existing ``path`` is replaced only with
    ``overwrite=True``. Returns ``path``.
    """
    path = Path(path)
    clf, meta = load_export_model(run_dir, which=which, member=member)
    _check_out(path, overwrite)
    model = build_onnx_model(clf, meta)
    _verify_onnx(model, clf)
    write_bytes(path, model.SerializeToString())
    log.info("wrote %s (ONNX opset %d, %s model)", path, ONNX_OPSET, which)
    return path


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict (values are strings).

    Lists such as ``feature_names`` are JSON: ``json.loads(meta["feature_names"])``.
    """
    onnx = require("onnx", "read ONNX metadata")
    path = Path(path)
    if not path.is_file():
        msg = (
            f"ONNX file {str(path)!r} does not exist; give the --out of a hepda export"
        )
        raise InputFileError(msg)
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises its own DecodeError kinds
        msg = f"cannot read {str(path)!r} as an ONNX model: {exc}"
        raise InputFileError(msg) from None
    return {p.key: p.value for p in model.metadata_props}


# --------------------------------------------------------------- TorchScript


def export_torchscript(
    run_dir: str | Path,
    path: str | Path,
    *,
    which: Which = "last",
    member: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write the classifier of ``run_dir`` to ``path`` as a scripted TorchScript module.

    Same input and output as the ONNX export (float32, scores of shape
    (batch,)); the feature names (``feature_names.json``) and the metadata
    (``hepda_metadata.json``) travel inside the archive as extra files, for
    ``torch.jit.load(path, _extra_files=...)`` or
    :func:`read_torchscript_metadata`. PyTorch 2.10 and later mark TorchScript
    deprecated; it remains what LibTorch C++ code loads, but ONNX is the
    format to prefer for new deployments.
    """
    path = Path(path)
    clf, meta = load_export_model(run_dir, which=which, member=member)
    _check_out(path, overwrite)
    extra = {
        TS_FEATURES_FILE: meta["feature_names"].encode(),
        TS_METADATA_FILE: json.dumps(meta, indent=1).encode(),
    }
    with warnings.catch_warnings():
        # torch.jit.* warn that TorchScript is deprecated; the docstring says so.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(clf)
        with atomic_path(path) as tmp:
            torch.jit.save(scripted, str(tmp), _extra_files=extra)
    log.info("wrote %s (TorchScript, %s model)", path, which)
    return path


def read_torchscript_metadata(path: str | Path) -> dict[str, str]:
    """The metadata stored in a TorchScript file by :func:`export_torchscript`.

    Read from the zip archive directly, without loading the module.
    """
    path = Path(path)
    if not path.is_file():
        msg = (
            f"TorchScript file {str(path)!r} does not exist; "
            "give the --out of a hepda export"
        )
        raise InputFileError(msg)
    try:
        with zipfile.ZipFile(path) as zf:
            member = next(
                n for n in zf.namelist() if n.endswith(f"/extra/{TS_METADATA_FILE}")
            )
            meta: dict[str, str] = json.loads(zf.read(member))
    except (zipfile.BadZipFile, StopIteration, ValueError):
        msg = (
            f"{str(path)!r} is not a TorchScript file written by hepda export "
            f"(no {TS_METADATA_FILE} inside)"
        )
        raise InputFileError(msg) from None
    return meta


# ------------------------------------------------------------------- either


def format_from_suffix(path: str | Path) -> ExportFormat:
    """``"onnx"`` for ``*.onnx``, ``"torchscript"`` for ``*.pt``/``*.pth``/``*.ts``."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIX_FORMATS:
        msg = (
            f"cannot tell the export format from the file name {str(path)!r}; "
            f"name it *.onnx or *.pt, or pass --format onnx|torchscript"
        )
        raise ConfigError(msg)
    return _SUFFIX_FORMATS[suffix]


def export_model(
    run_dir: str | Path,
    path: str | Path,
    *,
    format: ExportFormat | None = None,
    which: Which = "last",
    member: int = 0,
    overwrite: bool = False,
) -> Path:
    """:func:`export_onnx` or :func:`export_torchscript`.

    ``format=None`` follows the suffix of ``path``.
    """
    fmt = format if format is not None else format_from_suffix(path)
    _check_choice(fmt, get_args(ExportFormat), "the export format (--format)")
    if fmt == "onnx":
        return export_onnx(
            run_dir, path, which=which, member=member, overwrite=overwrite
        )
    return export_torchscript(
        run_dir, path, which=which, member=member, overwrite=overwrite
    )
