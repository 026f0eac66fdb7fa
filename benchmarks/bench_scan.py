"""A 20-member lambda scan: ``hepda scan`` against 20 ``hepda train`` commands.

Both run at the paper's scale (100k signal and 100k background per domain,
41 features, widths 45, 30, 25, batch 5000, 20 epochs) on the same Parquet
files, as separate processes with the same number of threads, in one go.
Printed: wall times and their ratio, each one's cost per model-epoch
against the matrix-multiply floor of one model-epoch (measured here for
the same shapes, see bench_train.py), the cost of a training epoch alone
(steps and validation, no start-up, reading or final metrics) per model
with the models stacked and for one model, measured side by side in this
process, the peak memory of each process, and how far the scan's numbers
are from the separate runs' (float32, so to a tolerance).

Targets: the scan at least 2x faster than the 20 commands, its cost per
model-epoch at most 0.6 of a single model's, peak memory under 2 GB; on a
GPU (``--device cuda``) at least 10x faster.

    python benchmarks/bench_scan.py --threads 2
    python benchmarks/bench_scan.py --device cuda      # on a machine with a GPU
    python benchmarks/bench_scan.py --quick            # smoke test, about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import epoch_shapes, floor_seconds, make_domain


def write_domain(path: Path, n_per_class: int, shift: float, seed: int) -> str:
    events = make_domain(n_per_class, 41, shift, seed)
    columns = {n: events.features[:, i] for i, n in enumerate(events.feature_names)}
    columns["label"] = events.label
    columns["weight"] = events.weight
    columns["event_number"] = events.event_number
    pq.write_table(pa.table(columns), path)
    return str(path)


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.stdout and proc.stdout.close()
    proc.stderr and proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"command failed ({code}): {' '.join(cmd)}\n{err[-3000:]}")
    return wall, usage.ru_maxrss / 1024


def epoch_costs(args: argparse.Namespace) -> tuple[float, float, float]:
    """Seconds per model-epoch (training steps and validation, nothing else)
    of ``members`` models stacked in one trainer and of one model alone,
    medians of interleaved epochs in this process; and the matrix-multiply
    floor of one model-epoch for the same shapes."""
    import statistics

    import torch

    from hepda.config import TrainConfig
    from hepda.train import Member, Trainer, prepare_data

    torch.set_num_threads(args.threads)
    src = make_domain(args.events, 41, 0.0, 1)
    tgt = make_domain(args.events, 41, 0.3, 2)
    config = TrainConfig(batch_size=args.batch_size, device=args.device, epochs=1000)
    data = prepare_data(src, tgt, config)
    lambdas = np.linspace(0, 2, args.members)
    stacked = Trainer(config, data, [Member(float(v), 0) for v in lambdas])
    single = Trainer(config, data, [Member(1.0, 0)])
    times: dict[str, list[float]] = {"stacked": [], "single": []}
    for epoch in range(args.epoch_rounds + 1):  # the first is a warm-up
        for name, trainer in (("stacked", stacked), ("single", single)):
            t0 = time.perf_counter()
            trainer.train_epoch(epoch)
            trainer.validate(epoch)
            if epoch:
                times[name].append(time.perf_counter() - t0)
    floor = floor_seconds(epoch_shapes(single), args.device)
    per_stacked = statistics.median(times["stacked"]) / args.members
    return per_stacked, statistics.median(times["single"]), floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads per process"
    )
    parser.add_argument("--members", type=int, default=20, help="lambda values 0..2")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--events", type=int, default=100_000, help="per class and domain"
    )
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--workers", type=int, default=1, help="hepda scan --workers")
    parser.add_argument(
        "--epoch-rounds",
        type=int,
        default=3,
        help="interleaved epochs of the in-process stacked/single comparison",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small scale, for a smoke test"
    )
    parser.add_argument("--keep", type=Path, help="keep the outputs in this directory")
    args = parser.parse_args()
    if args.quick:
        args.members, args.epochs, args.events, args.epoch_rounds = 4, 3, 3000, 1

    work = Path(args.keep or tempfile.mkdtemp(prefix="hepda-bench-scan-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
    }
    hepda = [sys.executable, "-m", "hepda", "-q"]
    print(
        f"{args.members} models x {args.epochs} epochs, {2 * args.events} events per "
        f"domain, {args.threads} thread(s) per process, device {args.device}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    if os.getloadavg()[0] > 0.5:
        print(
            "warning: other processes are running; threads that wait for a busy "
            "core make these timings unreliable - rerun on a quiet machine"
        )
    # Inputs, written once.
    s1 = write_domain(work / "s1.parquet", args.events, 0.0, 1)
    s2 = write_domain(work / "s2.parquet", args.events, 0.3, 2)
    lambdas = [float(v) for v in np.linspace(0, 2, args.members)]
    common = ["--source", s1, "--target", s2, "--epochs", str(args.epochs)]
    common += ["--batch-size", str(args.batch_size), "--device", args.device]
    common += ["--no-progress"]

    # The scan: one command, members stacked.
    scan_dir = work / "scan"
    shutil.rmtree(scan_dir, ignore_errors=True)
    scan_cmd = [*hepda, "scan", *common, "--out", str(scan_dir)]
    scan_cmd += ["--lambdas", f"0:2:{args.members}", "--workers", str(args.workers)]
    t_scan, mem_scan = run(scan_cmd, env)

    # The same models one command each.
    t_train, mem_train = 0.0, 0.0
    for i, lam in enumerate(lambdas):
        out = work / f"train{i:02d}"
        shutil.rmtree(out, ignore_errors=True)
        wall, mem = run(
            [*hepda, "train", *common, "--lambda", repr(lam), "--out", str(out)], env
        )
        t_train += wall
        mem_train = max(mem_train, mem)

    # Same numbers? (float32: to a tolerance)
    from hepda.scan import read_scan

    table = read_scan(scan_dir)
    solo = [
        json.loads((work / f"train{i:02d}" / "metrics.json").read_text())
        for i in range(len(lambdas))
    ]
    dev = [abs(table["auc_s2"][i] - m["auc_s2"]) for i, m in enumerate(solo)]
    worst = int(np.argmax(dev))

    per_stacked, per_single, floor = epoch_costs(args)
    n_model_epochs = args.members * args.epochs
    per_scan, per_train = t_scan / n_model_epochs, t_train / n_model_epochs
    print(
        f"\n{'':34s} {'wall s':>8s} {'s/model-epoch':>14s} "
        f"{'x floor':>8s} {'peak MB':>8s}"
    )
    print(
        f"{'hepda scan (stacked)':34s} {t_scan:8.1f} {per_scan:14.3f} "
        f"{per_scan / floor:8.2f} {mem_scan:8.0f}"
    )
    print(
        f"{f'{args.members} x hepda train':34s} {t_train:8.1f} {per_train:14.3f} "
        f"{per_train / floor:8.2f} {mem_train:8.0f}"
    )
    print(
        f"{'epoch alone, stacked (in process)':34s} {'':8s} {per_stacked:14.3f} "
        f"{per_stacked / floor:8.2f}"
    )
    print(
        f"{'epoch alone, one model (in process)':34s} {'':8s} {per_single:14.3f} "
        f"{per_single / floor:8.2f}"
    )
    print(f"{'matrix-multiply floor, one model':34s} {'':8s} {floor:14.3f}")
    target = 10 if args.device.startswith("cuda") else 2
    print(
        f"\nscan vs separate commands: {t_train / t_scan:.2f}x faster  "
        f"(target >= {target}x)"
    )
    print(
        "stacked cost per model-epoch / single, epochs alone: "
        f"{per_stacked / per_single:.2f}  (target <= 0.6; whole commands "
        f"{per_scan / per_train:.2f})"
    )
    print(
        f"peak memory: scan {mem_scan:.0f} MB, train {mem_train:.0f} MB  "
        "(target < 2000 MB)"
    )
    print(
        f"|AUC_S2 scan - AUC_S2 train|: {dev[0]:.1e} at lambda 0, "
        f"largest {dev[worst]:.1e} "
        f"at lambda {lambdas[worst]:.2f} (float32 runs drift apart at large lambda)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
