"""The paper's figures and the ones HEP analysts expect, drawn with matplotlib.

Every function takes ``ax=None`` (a new figure is made when None) and
returns the axes it drew on; functions that draw a page of panels return
the figure. Figures never go through pyplot, so nothing global changes.
matplotlib comes with the ``plots`` extra: ``pip install 'hepda[plots]'``.
"""

from hepda.plots._common import save_figure
from hepda.plots.curves import plot_roc, plot_significance_curves, plot_training_curves
from hepda.plots.inputs import plot_correlation, plot_input_variables
from hepda.plots.response import plot_overtraining, plot_response
from hepda.plots.scan import plot_scan, plot_tradeoff

__all__ = [
    "plot_correlation",
    "plot_input_variables",
    "plot_overtraining",
    "plot_response",
    "plot_roc",
    "plot_scan",
    "plot_significance_curves",
    "plot_tradeoff",
    "plot_training_curves",
    "save_figure",
]
