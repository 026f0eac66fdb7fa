"""The paper's 41 ttH(bb) input variables, computed from an object table.

``compute_features`` and ``compute_feature_arrays`` load awkward and vector
on first use, so ``hepda.features.names`` (the variable names) stays
importable without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hepda.features.names import RESERVED_COLUMNS, TTH41

if TYPE_CHECKING:
    from hepda.features.compute import compute_feature_arrays, compute_features

__all__ = ["RESERVED_COLUMNS", "TTH41", "compute_feature_arrays", "compute_features"]


def __getattr__(name: str) -> Any:
    if name in ("compute_features", "compute_feature_arrays"):
        from hepda.features import compute

        return getattr(compute, name)
    msg = f"module 'hepda.features' has no attribute {name!r}"
    raise AttributeError(msg)
