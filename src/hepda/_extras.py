"""Import optional dependencies with an error that says how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

from hepda.errors import MissingDependencyError

# module name -> (pip package, hepda extra)
_EXTRAS = {
    "uproot": ("uproot", "root"),
    "awkward": ("awkward", "root"),
    "vector": ("vector", "sim"),
    "pythia8mc": ("pythia8mc==8.317.2", "sim"),
    "fastjet": ("fastjet", "sim"),
    "matplotlib": ("matplotlib", "plots"),
    "mplhep": ("mplhep", "plots"),
    "hist": ("hist", "plots"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "dask": ("dask[distributed]", "dask"),
    "distributed": ("dask[distributed]", "dask"),
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError`.

    ``purpose`` completes the sentence "... is needed to <purpose>".
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        package, extra = _EXTRAS.get(top, (top, "all"))
        msg = (
            f"{package!s} is needed to {purpose} but is not installed; "
            f"install it with: pip install 'hepda[{extra}]'"
        )
        raise MissingDependencyError(msg) from exc
