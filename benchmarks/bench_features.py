"""Throughput of compute_features on 100k random-but-physical events.

One core (OMP and torch threads 1), the median of a few runs, against the
target of 100k events in under 10 s; and the speed-up over the plain
per-event reference of tests/test_features.py, measured side by side on a
subset and scaled per event.

Run: .venv/bin/python benchmarks/bench_features.py [--events N] [--repeats R]
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before NumPy starts its thread pool

import argparse
import statistics
import sys
import time
from pathlib import Path

TARGET_SECONDS_PER_100K = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-events", type=int, default=500)
    args = parser.parse_args()

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    # The event generator and the per-event reference live with the tests.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from hepda.features import compute_features
    from test_features import random_objects, reference_features

    # 5-10 jets per event as after the paper's selection
    table = random_objects(args.events, seed=2024, min_jets=5, max_jets=10)
    compute_features(table.slice(0, 100))  # warm-up: imports, first dispatch

    # Wall time is the target; CPU time of this process is printed too,
    # because on a shared machine it is the better estimate of a free core.
    times, cpu_times = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        compute_features(table)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    median = statistics.median(times)
    rate = args.events / median

    subset = table.slice(0, args.reference_events)
    rows = subset.to_pylist()
    start = time.perf_counter()
    for row in rows:
        reference_features(row)
    reference_rate = len(rows) / (time.perf_counter() - start)
    start = time.perf_counter()
    compute_features(subset)
    subset_rate = len(rows) / (time.perf_counter() - start)

    per_100k = 100_000 / rate
    verdict = "under" if per_100k < TARGET_SECONDS_PER_100K else "OVER"
    print(f"compute_features, {args.events} events, 1 thread, {args.repeats} runs")
    print(
        f"  median {median:.2f} s wall ({rate:,.0f} events/s), "
        f"{statistics.median(cpu_times):.2f} s CPU"
    )
    print(
        f"  {per_100k:.2f} s per 100k events: {verdict} the "
        f"{TARGET_SECONDS_PER_100K:.0f} s target"
    )
    print(
        f"per-event Python reference, {len(rows)} events: "
        f"{reference_rate:,.0f} events/s"
    )
    print(f"  vectorised / reference, full table rate: {rate / reference_rate:.1f}x")
    print(
        f"  vectorised / reference, same {len(rows)} events: "
        f"{subset_rate / reference_rate:.1f}x (fixed cost per call dominates here)"
    )


if __name__ == "__main__":
    main()
