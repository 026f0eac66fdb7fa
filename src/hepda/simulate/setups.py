"""Pythia 8 settings: processes, decay forcing, levels and generator setups.

The study needs two background samples that differ the way two real
generators differ for tt+jets: in the number and hardness of the extra jets
and in the heavy flavour from gluon splitting. Within Pythia the knobs that
control exactly these are the initial-state shower's starting scale (wimpy
or power shower), its damping, and the strong coupling of the showers. The
setups below are measured in ``DESIGN.md`` ("Background generator setups")
and in the report of this module; each one documents its physics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hepda.errors import ConfigError, did_you_mean

Process = Literal["ttH", "ttbar"]
Level = Literal["parton", "hadron"]


@dataclass(frozen=True)
class GeneratorSetup:
    """A named set of Pythia shower settings.

    ``generator`` is the value written to the ``generator`` column of the
    object and event tables; ``settings`` are ``readString`` lines applied on
    top of the process and level settings; ``label`` is the short name in
    plot legends.
    """

    name: str
    generator: str
    settings: tuple[str, ...]
    summary: str
    label: str


# The default Monash 2013 tune (Tune:pp = 14). For tt and ttH the hard
# process has no light parton in its final state, so Pythia's default
# (SpaceShower:pTmaxMatch = 0) lets ISR run up to the kinematic limit, damped
# above the factorisation scale by k^2 Q_F^2 / (pT^2 + k^2 Q_F^2) because
# there are two tops (pTdampMatch = 3): the "hdamp" of NLO+PS generators.
_MONASH = GeneratorSetup(
    name="monash",
    generator="pythia8-monash",
    settings=("Tune:pp = 14",),
    summary="Monash 2013 tune, damped power ISR (Pythia defaults)",
    label="Monash",
)

# Wimpy shower: ISR may not exceed the factorisation scale (about the top
# transverse mass), as in a leading-order generator that leaves hard
# emissions to the matrix element. Without that matrix element (as in
# MadGraph/Pythia 6 inclusive tt), the 5th and 6th jets are softer and
# rarer, and fewer hard gluons are there to split into b bbar pairs.
_WIMPY = GeneratorSetup(
    name="s1",
    generator="pythia8-monash-wimpy",
    settings=("Tune:pp = 14", "SpaceShower:pTmaxMatch = 1"),
    summary="Monash 2013, wimpy ISR (pT < factorisation scale)",
    label="wimpy ISR",
)

# Power shower with a larger strong coupling: ISR up to the kinematic limit
# without the damping factor, and alpha_s(MZ) = 0.140 instead of Monash's
# 0.1365 in both showers. More and harder radiation means more extra jets,
# larger HT and more g -> b bbar / c cbar splittings, the direction in which
# Powheg+Pythia 8 tt differs from an LO+PS sample. alpha_s 0.140 is inside
# the range of the published shower-tune variations (e.g. A14 Var3c).
_POWER = GeneratorSetup(
    name="s2",
    generator="pythia8-power-as0140",
    settings=(
        "Tune:pp = 14",
        "SpaceShower:pTmaxMatch = 2",
        "SpaceShower:pTdampMatch = 0",
        "SpaceShower:alphaSvalue = 0.140",
        "TimeShower:alphaSvalue = 0.140",
    ),
    summary="Monash 2013, undamped power ISR, alpha_s 0.140 in ISR and FSR",
    label="power ISR, alpha_s 0.140",
)

# ATLAS A14 tune with its own (damped) power ISR: a milder alternative
# background, kept for comparisons (KS 0.08 / 0.15 against the wimpy setup
# in nJets_Pt40 / HT_jets at parton level, DESIGN.md).
_A14 = GeneratorSetup(
    name="a14",
    generator="pythia8-a14",
    settings=("Tune:pp = 21",),
    summary="ATLAS A14 tune (NNPDF2.3 LO), damped power ISR",
    label="A14",
)

SETUPS: dict[str, GeneratorSetup] = {s.name: s for s in (_MONASH, _WIMPY, _POWER, _A14)}


def get_setup(name: str) -> GeneratorSetup:
    """Return the registered setup ``name`` or raise :class:`ConfigError`."""
    try:
        return SETUPS[name]
    except KeyError:
        msg = (
            f"unknown generator setup {name!r}{did_you_mean(name, SETUPS)}; "
            f"choose one of {sorted(SETUPS)}"
        )
        raise ConfigError(msg) from None


# Hard processes at leading order. ttH includes the (small) q qbar channel.
PROCESS_SETTINGS: dict[str, tuple[str, ...]] = {
    "ttbar": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"),
    "ttH": (
        "HiggsSM:gg2Httbar = on",
        "HiggsSM:qqbar2Httbar = on",
        "25:onMode = off",
        "25:onIfMatch = 5 -5",
    ),
}

# Parton level stops after the showers: no multiparton interactions (they
# add soft jets only) and no hadronisation; about 15 times faster.
LEVEL_SETTINGS: dict[str, tuple[str, ...]] = {
    "parton": ("PartonLevel:MPI = off", "HadronLevel:all = off"),
    "hadron": (),
}

_W_LEPTONS = "11 13"
_W_QUARKS = "1 2 3 4 5"


def lepton_jets_settings(charge: Literal[1, -1]) -> tuple[str, ...]:
    """Force one W to e/mu + neutrino and the other to quarks.

    ``charge`` is the sign of the W (hence of the lepton) that decays
    leptonically. Pythia scales its cross section by the open fraction of
    every forced resonance decay (t -> W b -> ...), so ``sigmaGen`` already
    carries the forced branching fraction, about 2 x 0.216 x 0.674 = 0.29 for
    both charge assignments together.
    """
    lep, had = (
        ("onPosIfAny", "onNegIfAny") if charge > 0 else ("onNegIfAny", "onPosIfAny")
    )
    return ("24:onMode = off", f"24:{lep} = {_W_LEPTONS}", f"24:{had} = {_W_QUARKS}")


def pythia_settings(
    process: str,
    setup: GeneratorSetup,
    level: str,
    charge: Literal[1, -1],
    seed: int,
    ecm: float = 13000.0,
) -> tuple[str, ...]:
    """All ``readString`` lines for one Pythia instance, in order."""
    quiet = ("Print:quiet = on", "Next:numberCount = 0")
    seeding = ("Random:setSeed = on", f"Random:seed = {seed}")
    beams = (f"Beams:eCM = {ecm:g}",)
    return (
        quiet
        + beams
        + setup.settings
        + PROCESS_SETTINGS[process]
        + lepton_jets_settings(charge)
        + LEVEL_SETTINGS[level]
        + seeding
    )
