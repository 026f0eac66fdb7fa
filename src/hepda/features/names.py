"""Names of the paper's 41 input variables (Table 2), in the paper's order.

Kept free of heavy imports so that data reading can use the ``tth41`` preset
without awkward or vector installed.
"""

from __future__ import annotations

TTH41: tuple[str, ...] = (
    "nJets",
    "MET",
    "Mjj_MaxPt",
    "nJets_Pt40",
    "nbTag",
    "nHiggsbb30",
    "nHiggsjj30",
    "pT_jet5",
    "pT_lep",
    "HT_jets",
    "H0_all",
    "H1_all",
    "H2_all",
    "H3_all",
    "H2_jets",
    "dEtajj_MaxdEta",
    "Centrality_all",
    "dRbb_avg",
    "Mbb_MindR",
    "Mbj_MaxPt",
    "dRbb_MaxPt",
    "Aplanarity_jets",
    "Mjj_MindR",
    "dRbj_Wmass",
    "Mbj_Wmass",
    "Mbj_MindR",
    "dRlj_MindR",
    "dRlj_MaxdR",
    "pT_jet3",
    "dRbb_MaxM",
    "dRjj_MindR",
    "Aplanarity_bjets",
    "Mjjj_MaxPt",
    "Mbb_MaxM",
    "Mjj_MinM",
    "dRlbb_MindR",
    "dRluu_MindR",
    "dRlbb_MaxdR",
    "dRlb1",
    "dRlb2",
    "dRlb3",
)

#: Columns of an event table that are never features.
RESERVED_COLUMNS: tuple[str, ...] = (
    "label",
    "weight",
    "event_number",
    "process",
    "generator",
)

assert len(TTH41) == 41 and len(set(TTH41)) == 41
