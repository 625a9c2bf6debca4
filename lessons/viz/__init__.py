"""Every figure and table of the course: triptychs, grids, bars, heat maps, paper-vs-ours tables.

Introduced in lesson 00; each function names the lesson that introduces it. A figure function
returns a ``matplotlib.figure.Figure`` (nothing is shown or saved behind your back), so a
notebook displays it and a test can inspect it; a table function returns a ``pandas.DataFrame``.
Lesson modules compute; this room draws.

One module per lesson (``core`` holds what every lesson uses); everything is re-exported here,
so notebooks write ``viz.triptych(...)`` whichever module a figure lives in.
"""

from .core import attack_summary, confidence_bars, figure_png, image_grid, paper_table, to_numpy_image, transfer_heatmap, triptych
from .l01 import alignment_figure, logit_path_figure, round_trip_figure
from .l03 import distance_figure, evolution_figure
from .l04 import strips_figure
from .l06 import attacked_digits, message_figure, one_feature_sweep, queries_to_success
from .l07 import attack_paths, checklist_table, ensemble_curves
from .l08 import box_widths, certified_curves, interval_bars, sandwich_bars

__all__ = [
    "to_numpy_image",
    "triptych",
    "image_grid",
    "confidence_bars",
    "attack_summary",
    "paper_table",
    "transfer_heatmap",
    "figure_png",
    "round_trip_figure",
    "logit_path_figure",
    "alignment_figure",
    "evolution_figure",
    "distance_figure",
    "strips_figure",
    "message_figure",
    "attacked_digits",
    "queries_to_success",
    "one_feature_sweep",
    "attack_paths",
    "ensemble_curves",
    "checklist_table",
    "interval_bars",
    "box_widths",
    "sandwich_bars",
    "certified_curves",
]
