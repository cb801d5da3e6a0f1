"""Draw a translation's alignment: which source pieces each target piece attended to (GNMT's `alignment`).

    python -m zoo translate --export savedmodels/gnmt_multi30k --alignment alignment.png "A dog runs on the beach."

(or `zoo.load(path).alignment(source, target).save(path)`). The picture is a
heatmap, source pieces across, target pieces down (`[END]` last), as Bahdanau
et al. 2015 draw theirs; `.png` or `.svg` by the file name. `draw_alignment`
draws any `alignment` output.
"""

import numpy as np


def draw_alignment(attention, source_pieces, target_pieces, path):
    """Writes the heatmap of `attention` `[T, S]` (rows: target pieces) to `path` (.png or .svg).

    Padding ("" pieces) is left out. Uses matplotlib's Agg canvas; pyplot's
    backend and figures are left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    source = [p.decode() if isinstance(p, bytes) else p for p in source_pieces]
    target = [p.decode() if isinstance(p, bytes) else p for p in target_pieces]
    source, target = [p for p in source if p], [p for p in target if p]
    attention = np.asarray(attention)[:len(target), :len(source)]
    figure = Figure(figsize=(1.0 + 0.45 * len(source), 1.0 + 0.35 * len(target)))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.imshow(attention, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source)), source, rotation=90)
    axes.set_yticks(range(len(target)), target)
    axes.xaxis.tick_top()
    figure.tight_layout()
    figure.savefig(path)
