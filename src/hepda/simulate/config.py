"""Configuration of the open benchmark: one frozen dataclass per concern.

Every number that changes the generated events lives here, so that the
cache key (a hash of these objects) changes whenever the events would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from hepda.errors import ConfigError, did_you_mean
from hepda.simulate.setups import SETUPS, GeneratorSetup, get_setup

Level = Literal["parton", "hadron"]
BTagMode = Literal["trf", "cut"]

#: Generated events per chunk (one Pythia instance, one seed) by level:
#: a few seconds of work each, so init (0.2 s) stays a few percent. Small
#: samples use smaller chunks (2 n_events, at least MIN_CHUNK_SIZE) so that
#: little is generated beyond what they need.
DEFAULT_CHUNK_SIZE: dict[str, int] = {"parton": 4000, "hadron": 400}
MIN_CHUNK_SIZE: dict[str, int] = {"parton": 500, "hadron": 100}


@dataclass(frozen=True)
class BTagEfficiencies:
    """Per-jet tagging probability by truth flavour (70 % working point).

    Defaults: 0.70 for b, 1/9 for c (rejection 9) and 1/300 for light jets
    (rejection 300), flat in pT and eta.
    """

    b: float = 0.70
    c: float = 1.0 / 9.0
    light: float = 1.0 / 300.0


@dataclass(frozen=True)
class DetectorConfig:
    """Detector emulation and object selection (ATLAS-like numbers).

    Jets: sigma(pT)/pT = sqrt((N/pT)^2 + S^2/pT + C^2), N = 3 GeV,
    S = 0.75 GeV^1/2, C = 0.05 (18 % at 30 GeV, 9.5 % at 100 GeV); every jet
    four-vector is multiplied by ``jet_scale * (1 + sigma * z)``, z ~ N(0, 1).
    Electrons: efficiency 0.90, sigma(E)/E = sqrt(0.10^2/E + 0.007^2).
    Muons: efficiency 0.95, sigma(pT)/pT = sqrt(0.015^2 + (1e-4 pT)^2).
    MET is minus the vector sum of the smeared jets (pT > 20 GeV,
    |eta| < 4.5) and the detected leptons.
    """

    jet_pt_min: float = 25.0
    jet_eta_max: float = 2.5
    jer_noise: float = 3.0
    jer_stochastic: float = 0.75
    jer_constant: float = 0.05
    jet_scale: float = 1.0
    met_jet_pt_min: float = 20.0
    met_jet_eta_max: float = 4.5
    electron_efficiency: float = 0.90
    electron_stochastic: float = 0.10
    electron_constant: float = 0.007
    muon_efficiency: float = 0.95
    muon_constant: float = 0.015
    muon_slope: float = 1.0e-4
    lepton_pt_min: float = 27.0
    lepton_eta_max: float = 2.5
    n_jets_min: int = 5
    n_btags_min: int = 3


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines the open ttH(bb) benchmark.

    ``n_events`` counts selected events for each background setup and for
    the signal of each of S1 and S2 (the ttH sample holds ``2 n_events``).
    ``setups`` names the background setups of S1 and S2 (see
    :data:`hepda.simulate.setups.SETUPS`); ``signal_setup`` the one setup
    that makes the signal shared by both.
    """

    n_events: int = 25_000
    seed: int = 1
    level: Level = "parton"
    btag: BTagMode = "trf"
    setups: tuple[str, str] = ("s1", "s2")
    signal_setup: str = "monash"
    efficiencies: BTagEfficiencies = field(default_factory=BTagEfficiencies)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    chunk_size: int | None = None
    ecm: float = 13000.0

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            msg = "invalid simulation configuration: " + "; ".join(problems)
            raise ConfigError(msg)

    @property
    def events_per_chunk(self) -> int:
        """Generated events per chunk: ``chunk_size``, or by level and size.

        A function of the configuration only (never of the workers), since
        the chunks define the events.

        >>> SimulationConfig().events_per_chunk
        4000
        >>> SimulationConfig(n_events=300).events_per_chunk
        600
        """
        if self.chunk_size:
            return self.chunk_size
        wanted = 100 * math.ceil(2 * self.n_events / 100)
        return min(
            DEFAULT_CHUNK_SIZE[self.level], max(MIN_CHUNK_SIZE[self.level], wanted)
        )

    def samples(self) -> tuple[SampleSpec, ...]:
        """The samples to generate: ttH (2N events) and one tt+jets per setup."""
        signal = SampleSpec(
            name="ttH",
            process="ttH",
            setup=get_setup(self.signal_setup),
            n_events=2 * self.n_events,
            config=self,
            sample_id=0,
        )
        backgrounds = tuple(
            SampleSpec(
                name=f"ttbar_{name}",
                process="ttbar",
                setup=get_setup(name),
                n_events=self.n_events,
                config=self,
                sample_id=i + 1,
            )
            for i, name in enumerate(self.setups)
        )
        return (signal, *backgrounds)


def _problems(cfg: SimulationConfig) -> list[str]:
    """Every problem of ``cfg`` at once, each saying what would be valid."""
    out: list[str] = []
    if not isinstance(cfg.n_events, int) or cfg.n_events < 1:
        out.append(f"n_events must be a positive integer, got {cfg.n_events!r}")
    if not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**63:
        out.append(f"seed must be an integer in [0, 2**63), got {cfg.seed!r}")
    if cfg.level not in ("parton", "hadron"):
        out.append(f"level must be 'parton' or 'hadron', got {cfg.level!r}")
    if cfg.btag not in ("trf", "cut"):
        out.append(f"btag must be 'trf' or 'cut', got {cfg.btag!r}")
    names = (*cfg.setups, cfg.signal_setup)
    for name in names:
        if name not in SETUPS:
            hint = did_you_mean(name, SETUPS)
            out.append(
                f"unknown generator setup {name!r}{hint}; choose from {sorted(SETUPS)}"
            )
    if len(cfg.setups) != 2 or cfg.setups[0] == cfg.setups[1]:
        out.append(f"setups must name two different setups, got {cfg.setups!r}")
    eff = cfg.efficiencies
    for flav in ("b", "c", "light"):
        value = getattr(eff, flav)
        if not 0.0 < value <= 1.0:
            out.append(
                f"b-tag efficiency for {flav} jets must be in (0, 1], got {value!r}"
            )
    if cfg.chunk_size is not None and cfg.chunk_size < 1:
        out.append(f"chunk_size must be positive or None, got {cfg.chunk_size!r}")
    if cfg.ecm <= 2 * 173.0 + 125.0:
        out.append(f"ecm must exceed the ttH threshold (GeV), got {cfg.ecm!r}")
    det = cfg.detector
    if det.n_jets_min < det.n_btags_min or det.n_btags_min < 0:
        out.append(
            f"need 0 <= n_btags_min <= n_jets_min, got {det.n_btags_min!r} "
            f"and {det.n_jets_min!r}"
        )
    return out


@dataclass(frozen=True)
class SampleSpec:
    """One sample of the benchmark: a process, a setup, a target size."""

    name: str
    process: Literal["ttH", "ttbar"]
    setup: GeneratorSetup
    n_events: int
    config: SimulationConfig
    sample_id: int

    @property
    def label(self) -> int:
        """1 for signal, 0 for background."""
        return 1 if self.process == "ttH" else 0

    def cache_key(self, versions: dict[str, str]) -> str:
        """Hash of every setting that changes this sample's events."""
        cfg = dataclasses.asdict(self.config)
        cfg.pop("setups")  # the other background's setup does not matter here
        cfg.pop("signal_setup")
        cfg["n_events"] = self.n_events
        cfg["chunk_size"] = self.config.events_per_chunk
        payload = {
            "sample": self.name,
            "process": self.process,
            "setup": dataclasses.asdict(self.setup),
            "config": cfg,
            "versions": versions,
        }
        return stable_hash(payload)


def stable_hash(payload: Any) -> str:
    """SHA-256 of the canonical JSON of ``payload`` (keys sorted)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def derive_seed(*parts: object, modulus: int = 900_000_000) -> int:
    """A seed in ``[1, modulus]`` derived from ``parts`` by SHA-256.

    Pythia accepts ``Random:seed`` up to 900 000 000; chunks get unrelated
    seeds from (seed, sample, chunk index), whatever runs them.

    >>> derive_seed(1, "ttH", 0) == derive_seed(1, "ttH", 0)
    True
    >>> derive_seed(1, "ttH", 0) != derive_seed(1, "ttH", 1)
    True
    """
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") % modulus + 1
