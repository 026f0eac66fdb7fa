"""Typed configuration of a training run, checked in one place.

Every command-line option of ``hepda train`` is also a key of the TOML file
given with ``--config``; the command line wins. :func:`train_config_from_mapping`
reports every problem at once, each with the key, the value received, what is
allowed, and a suggestion for a near-miss key.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from hepda.errors import ConfigError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DiscMode = Literal["background", "all", "source-background"]
OptimizerName = Literal["adadelta", "adagrad", "nesterov", "adam"]
LambdaSchedule = Literal["constant", "ganin"]
SplitMethod = Literal["random", "event_number"]
ClassWeights = Literal["balanced", "raw"]
DType = Literal["float32", "float64"]

#: Learning rates used when ``learning_rate`` is not given. Adadelta's 1.0
#: makes its update exactly Eqs. 10-15 of the paper.
DEFAULT_LEARNING_RATE: dict[str, float] = {
    "adadelta": 1.0,
    "adagrad": 0.01,
    "nesterov": 0.01,
    "adam": 1e-3,
}


@dataclass(frozen=True)
class SignificanceConfig:
    """Settings of the paper's significance (Eqs. 16-19)."""

    cut: float = 0.6
    n_events: float = 5e4
    signal_fraction: float = 0.05


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved in every checkpoint."""

    features: tuple[str, ...] | str | None = None
    hidden: tuple[int, ...] = (45, 30, 25)
    lambda_: float = 1.2
    lambda_schedule: LambdaSchedule = "constant"
    disc_mode: DiscMode = "background"
    optimizer: OptimizerName = "adadelta"
    learning_rate: float | None = None
    momentum: float = 0.9
    epochs: int = 300
    batch_size: int = 5000
    seed: int = 0
    data_seed: int = 0
    val_fraction: float = 0.34
    split: SplitMethod = "random"
    n_folds: int = 3
    fold: int = 0
    class_weights: ClassWeights = "balanced"
    device: str = "cpu"
    dtype: DType = "float32"
    checkpoint_every: int = 1
    smooth_window: int = 10
    significance: SignificanceConfig = field(default_factory=SignificanceConfig)
    label_column: str = "label"
    weight_column: str = "weight"
    event_number_column: str = "event_number"

    @property
    def lr(self) -> float:
        """The learning rate actually used."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LEARNING_RATE[self.optimizer]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for TOML and checkpoints; ``lambda_`` is written ``lambda``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            key = _external(f.name)
            if isinstance(value, SignificanceConfig):
                out[key] = dataclasses.asdict(value)
            elif isinstance(value, tuple):
                out[key] = list(value)
            elif value is not None:
                out[key] = value
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _external(name: str) -> str:
    return "lambda" if name == "lambda_" else name


def override(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[key] = value`` in place of any other spelling of the key
    (``lr``, ``disc-mode``): the command line overrides a file however the
    file spells the key."""
    for other in [k for k in data if _internal(k) == _internal(key)]:
        del data[other]
    data[key] = value


#: Keys that may also be spelt as their command-line option (``--lr``).
_ALIASES = {"lr": "learning_rate"}


def _internal(key: str) -> str:
    key = key.replace("-", "_")
    return "lambda_" if key == "lambda" else _ALIASES.get(key, key)


_ALLOWED_LITERALS: dict[str, tuple[str, ...]] = {
    "lambda_schedule": get_args(LambdaSchedule),
    "disc_mode": get_args(DiscMode),
    "optimizer": get_args(OptimizerName),
    "split": get_args(SplitMethod),
    "class_weights": get_args(ClassWeights),
    "dtype": get_args(DType),
}


def _check_value(key: str, value: Any, problems: list[str]) -> Any:
    """Convert and check one value; append a message to ``problems`` if bad."""
    name = _internal(key)

    def bad(expected: str) -> None:
        problems.append(f"{key}: expected {expected}, got {value!r}")

    if name in _ALLOWED_LITERALS:
        allowed = _ALLOWED_LITERALS[name]
        if value not in allowed:
            hint = did_you_mean(str(value), allowed)
            problems.append(
                f"{key}: expected one of {', '.join(allowed)}, got {value!r}{hint}"
            )
        return value
    if name == "features":
        if value is None or isinstance(value, str):
            return value
        if (
            isinstance(value, list | tuple)
            and value
            and all(isinstance(v, str) for v in value)
        ):
            return tuple(value)
        bad("a list of column names or the preset 'tth41'")
        return value
    if name == "hidden":
        if (
            isinstance(value, list | tuple)
            and value
            and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
            )
        ):
            return tuple(value)
        bad("a non-empty list of positive integers such as [45, 30, 25]")
        return value
    if name in {"epochs", "batch_size", "n_folds", "checkpoint_every", "smooth_window"}:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        bad("a positive integer")
        return value
    if name in {"seed", "data_seed"}:
        # Seeds feed 64-bit generator seeds (data_seed times 100003 plus the
        # epoch); 2^32 seeds are more than any scan needs.
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and 0 <= value < 2**32
        ):
            return value
        bad("an integer from 0 to 4294967295")
        return value
    if name == "fold":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        bad("a non-negative integer")
        return value
    if name in {"lambda_", "momentum"}:
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and 0 <= value < math.inf
        ):
            return float(value)
        bad("a finite non-negative number")
        return value
    if name == "learning_rate":
        if value is None or (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and 0 < value < math.inf
        ):
            return None if value is None else float(value)
        bad("a finite positive number")
        return value
    if name == "val_fraction":
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and 0 < value < 1
        ):
            return float(value)
        bad("a number between 0 and 1 (exclusive)")
        return value
    if name in {"device", "label_column", "weight_column", "event_number_column"}:
        if isinstance(value, str) and value:
            return value
        bad("a non-empty string")
        return value
    if name == "significance":
        if not isinstance(value, Mapping):
            bad("a table with keys cut, n_events, signal_fraction")
            return value
        allowed_keys = [f.name for f in fields(SignificanceConfig)]
        kwargs: dict[str, float] = {}
        for sub, v in value.items():
            if sub not in allowed_keys:
                problems.append(
                    f"significance.{sub}: unknown key"
                    f"{did_you_mean(sub, allowed_keys)}; "
                    f"allowed: {', '.join(allowed_keys)}"
                )
            elif (
                not isinstance(v, int | float)
                or isinstance(v, bool)
                or not 0 < v < math.inf
            ):
                problems.append(
                    f"significance.{sub}: expected a positive number, got {v!r}"
                )
            else:
                kwargs[sub] = float(v)
        return SignificanceConfig(**kwargs)
    return value  # pragma: no cover - every field is handled above


def train_config_from_mapping(
    data: Mapping[str, Any],
    base: TrainConfig | None = None,
    *,
    origin: str = "configuration",
    other_keys: Sequence[str] = (),
) -> TrainConfig:
    """Build a :class:`TrainConfig` from plain data, reporting every problem at once.

    Keys use the external spelling (``lambda``, ``disc_mode``); dashes are
    accepted for underscores, and ``lr`` for ``learning_rate``. ``base``
    supplies the values not given. ``other_keys`` are the caller's own keys
    (a scan's), offered with the training keys when a key is unknown.
    """
    base = base or TrainConfig()
    known = [_external(f.name) for f in fields(TrainConfig)]
    problems: list[str] = []
    changes: dict[str, Any] = {}
    spelt: dict[str, str] = {}  # internal name -> the key that gave it
    for key, value in data.items():
        name = _internal(key)
        if name in spelt:
            problems.append(f"{spelt[name]} and {key}: the same key twice; keep one")
            continue
        spelt[name] = key
        if _external(name) not in known:
            problems.append(
                f"{key}: unknown key{did_you_mean(key, [*known, *other_keys])}; "
                "see 'hepda train --help' for the keys"
            )
            continue
        changes[name] = _check_value(_external(name), value, problems)

    # Checks across keys, reported with the others (values of the wrong
    # type were reported above and are skipped here).
    fold = changes.get("fold", base.fold)
    n_folds = changes.get("n_folds", base.n_folds)
    if isinstance(fold, int) and isinstance(n_folds, int) and fold >= n_folds >= 1:
        problems.append(f"fold: expected a fold below n_folds = {n_folds}, got {fold}")
    device = changes.get("device", base.device)
    device_problem = _device_problem(device) if isinstance(device, str) else None
    if device_problem:
        problems.append(device_problem)
    if problems:
        listing = "\n  ".join(problems)
        msg = f"{len(problems)} problem(s) in the {origin}:\n  {listing}"
        raise ConfigError(msg)
    return dataclasses.replace(base, **changes)


def _device_problem(device: str) -> str | None:
    """Why ``device`` cannot run here, or None; torch is imported only for a GPU."""
    if device == "cpu":
        return None
    if not re.fullmatch(r"cuda(:\d+)?|mps", device):
        return f"device: expected 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}"
    import torch

    if device == "mps":
        if not torch.backends.mps.is_available():
            return "device: 'mps' is not available on this machine; use --device cpu"
        return None
    if not torch.cuda.is_available():
        return (
            f"device: {device!r} needs a CUDA GPU and a CUDA build of torch, and this "
            f"torch ({torch.__version__}) sees none; use --device cpu"
        )
    index = int(device.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        return (
            f"device: {device!r} does not exist; this machine has {count} "
            f"CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return None


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, with a clear error for a missing or malformed file."""
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        msg = f"configuration file {str(p)!r} {what}; give the path of a TOML file"
        raise ConfigError(msg)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"configuration file {str(p)!r} is not valid TOML (UTF-8 text): {exc}"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"cannot read configuration file {str(p)!r}: {exc.strerror or exc}"
        raise ConfigError(msg) from None


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML text for a configuration dictionary."""
    import tomli_w

    return tomli_w.dumps(dict(data))
