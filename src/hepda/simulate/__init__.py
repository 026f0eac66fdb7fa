"""The open ttH(bb) benchmark: Pythia 8 events from two background setups.

``build_benchmark(out_dir, SimulationConfig(...))`` generates ttH(bb) signal
and tt+jets from two generator setups, emulates the detector, b-tags,
selects lepton+jets events, and writes object tables, feature tables, the
S1 and S2 tables and a plot of every input variable. Names are loaded on
first use, so importing this package (as worker processes do) is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hepda.simulate.benchmark import (
        BenchmarkPaths,
        build_benchmark,
        generate_samples,
        weighted_ks,
    )
    from hepda.simulate.cache import cache_root
    from hepda.simulate.config import BTagEfficiencies, DetectorConfig, SimulationConfig
    from hepda.simulate.setups import SETUPS, GeneratorSetup

_EXPORTS = {
    "BenchmarkPaths": "benchmark",
    "build_benchmark": "benchmark",
    "generate_samples": "benchmark",
    "weighted_ks": "benchmark",
    "cache_root": "cache",
    "BTagEfficiencies": "config",
    "DetectorConfig": "config",
    "SimulationConfig": "config",
    "SETUPS": "setups",
    "GeneratorSetup": "setups",
}

__all__ = [
    "SETUPS",
    "BTagEfficiencies",
    "BenchmarkPaths",
    "DetectorConfig",
    "GeneratorSetup",
    "SimulationConfig",
    "build_benchmark",
    "cache_root",
    "generate_samples",
    "weighted_ks",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'hepda.simulate' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"hepda.simulate.{module}"), name)
