"""One training epoch at the paper's scale: hepda against a plain PyTorch DANN.

The workload of the paper (section 4): 100k signal and 100k background
events per domain, 41 features, 66 % training, widths 45, 30, 25, batch
5000, Adadelta, the metrics recorded on the validation events every epoch.

Timed side by side in one process, interleaved round by round:

* hepda: ``Trainer.train_epoch`` followed by ``Trainer.validate`` (K = 1);
* a straightforward DANN: TensorDataset + shuffling DataLoader, an
  ``nn.Module`` with a custom autograd gradient-reversal function,
  ``torch.optim.Adadelta``, the same weighted losses, and the same
  per-epoch record on the validation events (losses, AUC, accuracy,
  significance, KS distance) computed with scikit-learn and NumPy;
* the same DANN drawing its batches by indexing preloaded tensors instead
  of through the DataLoader (what the loader costs, for orientation);
* the matrix-multiply floor: the epoch's matrix products alone, timed with
  ``torch.mm`` on tensors of the same shapes (this machine's rate for them).

It prints medians, the ratios, the epoch's FLOPs, and the peak memory of a
process that only runs hepda (measured in a child process).

    OMP_NUM_THREADS=2 python benchmarks/bench_train.py --threads 2
    python benchmarks/bench_train.py --quick   # smoke test, a few seconds
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn

from hepda.config import TrainConfig
from hepda.data.events import EventTable
from hepda.train import Member, Trainer, domain_masks, prepare_data

HIDDEN = (45, 30, 25)


# --------------------------------------------------------------------- data


def make_domain(
    n_per_class: int, n_features: int, shift: float, seed: int
) -> EventTable:
    """Signal and background with a generator shift in the background."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_class
    label = np.repeat(np.array([1, 0], dtype=np.int8), n_per_class)
    x = rng.normal(size=(n, n_features)).astype(np.float32)
    x[label == 1, : n_features // 3] += 0.5
    x[label == 0, n_features // 2 :] += shift
    return EventTable(
        features=x,
        feature_names=tuple(f"x{i}" for i in range(n_features)),
        label=label,
        weight=rng.uniform(0.5, 1.5, n),
        event_number=np.arange(n, dtype=np.int64) + seed * n,
        origin=f"synthetic-{seed}",
    )


def hepda_trainer(args: argparse.Namespace) -> Trainer:
    src = make_domain(args.events, args.features, 0.0, 1)
    tgt = make_domain(args.events, args.features, 0.3, 2)
    config = TrainConfig(
        hidden=HIDDEN,
        lambda_=1.2,
        batch_size=args.batch_size,
        epochs=1000,
        val_fraction=0.34,
        device=args.device,
    )
    data = prepare_data(src, tgt, config)
    return Trainer(config, data, [Member(1.2, 0)])


# ---------------------------------------------------- the plain PyTorch DANN


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return -grad


class PlainDANN(nn.Module):
    def __init__(self, n_features: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.extractor = nn.Sequential(*layers)
        self.label_head = nn.Linear(width, 1)
        self.domain_head = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.extractor(x)
        zy = self.label_head(f).squeeze(1)
        zd = self.domain_head(_GradReverse.apply(f)).squeeze(1)
        return zy, zd


class PlainRun:
    """The textbook DANN loop, computing what hepda computes each epoch.

    Training: the weighted label loss on source events, the weighted domain
    loss on the events the ``background`` mode shows (source and target
    backgrounds, each domain's weights normalised to mean 1, as in hepda),
    ``torch.optim.Adadelta``. Validation: the per-epoch record of the issue
    (L_y on S1 and S2, L_d, AUC and accuracy on each, the paper's
    significance at the cut, the KS distance of the two background
    responses), written with scikit-learn and NumPy as a user would.

    ``loader=True`` draws batches from shuffling DataLoaders over
    TensorDatasets (the version the target is set against);
    ``loader=False`` draws them by indexing preloaded tensors with a
    permutation, which isolates what the DataLoader costs.
    """

    def __init__(self, trainer: Trainer, device: str, *, loader: bool) -> None:
        src, tgt = trainer.data.source, trainer.data.target
        tr_s, tr_t = src.train_index, tgt.train_index
        bkg_t = tr_t[tgt.events.label[tr_t] == 0]
        self.device = device
        self.lam = 1.2
        self.config = trainer.config
        self.loader = loader
        xs, ys, ws = (
            src.x[tr_s].cpu(),
            src.label[tr_s].cpu(),
            src.weight_train[tr_s].cpu(),
        )
        xt, wt = tgt.x[bkg_t].cpu(), tgt.weight_train[bkg_t].cpu()
        # Domain weights: each domain's shown events normalised to mean 1.
        self.norm_s = 1.0 / float(ws[ys == 0].mean())
        self.norm_t = 1.0 / float(wt.mean())
        bs = self.config.batch_size
        self.n_batches = -(-len(xs) // bs)
        self.bs_t = max(1, len(xt) // self.n_batches)
        self.tensors_s = [t.to(device) for t in (xs, ys, ws)]
        self.tensors_t = [t.to(device) for t in (xt, wt)]
        if loader:
            self.source = torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(xs, ys, ws), batch_size=bs, shuffle=True
            )
            self.target = torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(xt, wt),
                batch_size=self.bs_t,
                shuffle=True,
            )
        vs, vt = src.val_index, tgt.val_index
        self.val = [
            (src.x[vs], src.events.label[vs], src.events.weight[vs]),
            (tgt.x[vt], tgt.events.label[vt], tgt.events.weight[vt]),
        ]
        torch.manual_seed(0)
        self.model = PlainDANN(src.x.shape[1], HIDDEN).to(device)
        self.opt = torch.optim.Adadelta(
            self.model.parameters(), lr=1.0, rho=0.9, eps=1e-6
        )

    def batches(self) -> Iterator[tuple[Tensor, ...]]:
        if self.loader:
            for (xs, ys, ws), (xt, wt) in zip(
                self.source, itertools.cycle(self.target)
            ):
                yield tuple(t.to(self.device) for t in (xs, ys, ws, xt, wt))
            return
        xs, ys, ws = self.tensors_s
        xt, wt = self.tensors_t
        perm_s = torch.randperm(len(xs), device=self.device)
        perm_t = torch.randperm(len(xt), device=self.device)
        bs = self.config.batch_size
        for i in range(self.n_batches):
            a = perm_s[i * bs : (i + 1) * bs]
            b = perm_t[i * self.bs_t : (i + 1) * self.bs_t]
            yield xs[a], ys[a], ws[a], xt[b], wt[b]

    def epoch(self) -> dict[str, float]:
        bce = nn.functional.binary_cross_entropy_with_logits
        self.model.train()
        for xs, ys, ws, xt, wt in self.batches():
            self.opt.zero_grad()
            zy, zd = self.model(torch.cat([xs, xt]))
            n = len(xs)
            loss_y = (bce(zy[:n], ys, reduction="none") * ws).mean()
            bkg_s = ys == 0
            z_dom = torch.cat([zd[:n][bkg_s], zd[n:]])
            w_dom = torch.cat([ws[bkg_s] * self.norm_s, wt * self.norm_t])
            dom = torch.cat([torch.zeros(int(bkg_s.sum())), torch.ones(len(xt))])
            loss_d = (bce(z_dom, dom.to(self.device), reduction="none") * w_dom).mean()
            (loss_y + self.lam * loss_d).backward()
            self.opt.step()
        return self.validate()

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        bce = nn.functional.binary_cross_entropy_with_logits
        record: dict[str, float] = {}
        responses = []
        z_dom, dom, w_dom = [], [], []
        for i, (x, y, w) in enumerate(self.val, start=1):
            zy, zd = self.model(x)
            yt = torch.as_tensor(y, dtype=zy.dtype, device=self.device)
            wt = torch.as_tensor(w, dtype=zy.dtype, device=self.device)
            record[f"loss_label_s{i}"] = float(
                (bce(zy, yt, reduction="none") * wt).mean()
            )
            score = torch.sigmoid(zy).double().cpu().numpy()
            record[f"auc_s{i}"] = roc_auc_score(y, score, sample_weight=w)
            balanced = np.where(y == 1, w / w[y == 1].sum(), w / w[y == 0].sum())
            record[f"accuracy_s{i}"] = float(
                balanced[(score > 0.5) == (y == 1)].sum() / balanced.sum()
            )
            responses.append((score, y, w))
            bkg = torch.as_tensor(y == 0, device=self.device)
            z_dom.append(zd[bkg])
            dom.append(torch.full((int(bkg.sum()),), float(i - 1)))
            w_dom.append(wt[bkg] / wt[bkg].mean())
        record["loss_domain"] = float(
            (
                bce(torch.cat(z_dom), torch.cat(dom).to(self.device), reduction="none")
                * torch.cat(w_dom)
            ).mean()
        )
        record["significance"] = paper_significance(responses, self.config)
        (s1, y1, w1), (s2, y2, w2) = responses
        record["bias_ks"] = weighted_ks(
            s1[y1 == 0], w1[y1 == 0], s2[y2 == 0], w2[y2 == 0]
        )
        return record


def paper_significance(
    responses: list[tuple[np.ndarray, np.ndarray, np.ndarray]], config: TrainConfig
) -> float:
    """Eqs. 16-19 written out: s from S2 signal, b1 and b2, sigma_b = |b2 - b1|."""
    sig = config.significance
    (s1, y1, w1), (s2, y2, w2) = responses

    def passing(score: np.ndarray, w: np.ndarray) -> float:
        return float(w[score > sig.cut].sum() / w.sum())

    n, f = sig.n_events, sig.signal_fraction
    s = n * f * passing(s2[y2 == 1], w2[y2 == 1])
    b1 = n * (1 - f) * passing(s1[y1 == 0], w1[y1 == 0])
    b2 = n * (1 - f) * passing(s2[y2 == 0], w2[y2 == 0])
    return s / math.sqrt(b2 + (b2 - b1) ** 2) if s > 0 and b2 > 0 else 0.0


def weighted_ks(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> float:
    """Largest distance between the two weighted empirical distributions."""
    values = np.concatenate([a, b])
    order = np.argsort(values, kind="stable")
    step = np.concatenate([wa / wa.sum(), -wb / wb.sum()])[order]
    return float(np.abs(np.cumsum(step)).max())


# ------------------------------------------------------- FLOPs and the floor


def epoch_shapes(trainer: Trainer) -> list[tuple[int, int, int, int]]:
    """(m, k, n, count): the matrix products of one hepda epoch, K = 1."""
    src, tgt = trainer.data.source, trainer.data.target
    n_train = len(src.train_index)
    bs = trainer.config.batch_size
    shown_s, _ = domain_masks(
        trainer.config.disc_mode, src.events.label, tgt.events.label
    )
    shown = shown_s[src.train_index].mean()
    widths = (src.x.shape[1], *HIDDEN)
    out: list[tuple[int, int, int, int]] = []
    n_batches = -(-n_train // bs)
    rows = round(bs * (1 + shown))  # source events plus as many target ones
    for a, b in itertools.pairwise(widths):
        out.append((rows, a, b, n_batches))  # forward
        out.append((a, rows, b, n_batches))  # weight gradient
    for a, b in itertools.pairwise(widths[1:]):
        out.append((rows, b, a, n_batches))  # input gradient (not of the inputs)
    h = widths[-1]
    out += [(rows, h, 2, n_batches), (h, rows, 2, n_batches), (rows, 2, h, n_batches)]
    # validation: one forward pass over the validation events of both domains
    n_val = len(src.val_index) + len(tgt.val_index)
    for a, b in itertools.pairwise(widths):
        out.append((n_val, a, b, 1))
    out.append((n_val, h, 2, 1))
    return out


def flops(shapes: list[tuple[int, int, int, int]]) -> float:
    return float(sum(2 * m * k * n * c for m, k, n, c in shapes))


def floor_seconds(shapes: list[tuple[int, int, int, int]], device: str) -> float:
    """Time of the epoch's matrix products alone, at this machine's rate for them."""
    total = 0.0
    for m, k, n, count in shapes:
        a = torch.randn(m, k, device=device)
        b = torch.randn(k, n, device=device)
        out = torch.empty(m, n, device=device)
        times = []
        for _ in range(7):
            sync(device)
            t0 = time.perf_counter()
            for _ in range(3):
                torch.mm(a, b, out=out)
            sync(device)
            times.append((time.perf_counter() - t0) / 3)
        total += statistics.median(times) * count
    return total


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


# ------------------------------------------------------------------ memory


def peak_memory_child(args: argparse.Namespace) -> float:
    """Peak resident memory (MB) of a process that prepares the data and runs
    2 hepda epochs."""
    cmd = [sys.executable, __file__, "--memory-child", "--threads", str(args.threads)]
    cmd += ["--events", str(args.events), "--device", args.device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_mb"])


def memory_child(args: argparse.Namespace) -> None:
    trainer = hepda_trainer(args)
    for epoch in range(2):
        trainer.train_epoch(epoch)
        trainer.validate(epoch)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mb": peak_kb / 1024}))


# -------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--hepda-per-round", type=int, default=3)
    parser.add_argument(
        "--events", type=int, default=100_000, help="per class and domain"
    )
    parser.add_argument("--features", type=int, default=41)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--quick", action="store_true", help="small scale, for a smoke test"
    )
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.events, args.rounds, args.hepda_per_round = 5000, 1, 2
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return

    print(
        f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if os.getloadavg()[0] > 0.5:
        print(
            "warning: other processes are running; threads that wait for a busy "
            "core make these timings unreliable - rerun on a quiet machine"
        )
    trainer = hepda_trainer(args)
    plain = PlainRun(trainer, args.device, loader=True)
    indexed = PlainRun(trainer, args.device, loader=False)
    shapes = epoch_shapes(trainer)
    epoch_flops = flops(shapes)

    # Warm-up (first calls allocate and import), then interleaved rounds.
    trainer.train_epoch(0)
    trainer.validate(0)
    t_train: list[float] = []
    t_val: list[float] = []
    t_plain: list[float] = []
    t_indexed: list[float] = []
    t_floor: list[float] = []
    epoch = 1
    for _ in range(args.rounds):
        for _ in range(args.hepda_per_round):
            t_train.append(timed(lambda e=epoch: trainer.train_epoch(e), args.device))
            t_val.append(timed(lambda e=epoch: trainer.validate(e), args.device))
            epoch += 1
        t_plain.append(timed(plain.epoch, args.device))
        t_indexed.append(timed(indexed.epoch, args.device))
        t_floor.append(floor_seconds(shapes, args.device))
    hepda = [a + b for a, b in zip(t_train, t_val, strict=True)]
    peak = peak_memory_child(args)

    m_hepda, m_plain, m_indexed, m_floor = (
        statistics.median(v) for v in (hepda, t_plain, t_indexed, t_floor)
    )
    rows = [
        ("hepda epoch (train_epoch + validate)", m_hepda),
        ("  of which train_epoch", statistics.median(t_train)),
        ("  of which validate", statistics.median(t_val)),
        ("plain DANN, DataLoader + autograd reversal", m_plain),
        ("plain DANN, tensor indexing instead", m_indexed),
        ("matrix-multiply floor, same shapes", m_floor),
    ]
    print(
        f"\nworkload: {2 * args.events} events per domain, {args.features} features, "
        f"widths {HIDDEN}, batch {args.batch_size}; {len(hepda)} hepda and "
        f"{len(t_plain)} plain epochs (medians)"
    )
    print(f"{'':46s} {'s/epoch':>9s} {'GFLOP/s':>9s}")
    for name, sec in rows:
        rate = f"{epoch_flops / sec / 1e9:9.1f}" if not name.startswith("  ") else ""
        print(f"{name:46s} {sec:9.3f} {rate}")
    print(
        "\nepoch FLOPs (training steps + one validation forward): "
        f"{epoch_flops / 1e9:.2f} G"
    )
    # Ratios per round (hepda's median epoch of the round against the
    # references timed next to it), then their median and range: the
    # machine's speed drifts over a run, and a ratio within a round sees
    # the same drift on both sides.
    per = args.hepda_per_round
    hepda_round = [
        statistics.median(hepda[i * per : (i + 1) * per]) for i in range(args.rounds)
    ]

    def ratio(name: str, values: list[float], invert: bool, target: str) -> None:
        r = [
            h / v if invert else v / h for h, v in zip(hepda_round, values, strict=True)
        ]
        unit = "x the floor" if invert else "x faster"
        print(
            f"hepda vs {name}: {statistics.median(r):.2f}{unit} "
            f"(rounds {min(r):.2f}-{max(r):.2f}){target}"
        )

    ratio("DataLoader version", t_plain, False, "   target >= 20x")
    ratio("tensor-indexing version", t_indexed, False, "")
    ratio("matrix-multiply floor", t_floor, True, "   target <= 2.5x")
    print(f"peak memory of a hepda-only process: {peak:.0f} MB  (target < 1500 MB)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
