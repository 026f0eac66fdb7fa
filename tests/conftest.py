"""Shared fixtures: small seeded event tables with a generator difference."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

# Two cores: one thread per test process keeps the suite from oversubscribing.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

FEATURES = ("f0", "f1", "f2", "f3", "f4")


def make_domain(
    n_per_class: int, *, shift: float, seed: int, start: int = 0
) -> pa.Table:
    """Signal and background with a background that depends on the 'generator'.

    ``shift`` moves the background in f2 and f0, as a second generator's
    harder radiation would; signal is the same in both domains.
    """
    rng = np.random.default_rng(seed)
    sig = rng.normal(0.0, 1.0, size=(n_per_class, len(FEATURES)))
    sig[:, 0] += 1.0
    sig[:, 1] += 0.8
    bkg = rng.normal(0.0, 1.0, size=(n_per_class, len(FEATURES)))
    bkg[:, 2] += shift
    bkg[:, 0] += 0.4 * shift
    x = np.concatenate([sig, bkg]).astype(np.float32)
    label = np.repeat(np.array([1, 0], dtype=np.int8), n_per_class)
    columns = {name: x[:, i] for i, name in enumerate(FEATURES)}
    columns["label"] = label
    columns["weight"] = rng.uniform(0.5, 1.5, size=2 * n_per_class)
    columns["event_number"] = np.arange(start, start + 2 * n_per_class, dtype=np.int64)
    columns["process"] = np.where(label == 1, "ttH", "ttbar")
    return pa.table(columns)


@pytest.fixture(scope="session")
def toy_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(S1, S2) Parquet files with 600 signal and 600 background events each."""
    d = tmp_path_factory.mktemp("toy")
    s1, s2 = d / "s1.parquet", d / "s2.parquet"
    pq.write_table(make_domain(600, shift=0.0, seed=1), s1)
    pq.write_table(make_domain(600, shift=1.0, seed=2, start=10_000), s2)
    return s1, s2
