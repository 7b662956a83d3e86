"""PNG plots of accuracy against k and against generated tokens (matplotlib, optional).

Public: `plot_curves`.

Uses matplotlib's object API (`Figure` + the Agg canvas), so no global pyplot state is touched.
matplotlib is imported when a plot is drawn; without it `plot_curves` raises ImportError naming
the extra to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from search.curves import CurvePoint


def plot_curves(
    points: Sequence[CurvePoint],
    path: str | Path,
    x: str = "k",
    extra_points: Sequence[tuple[str, float, float]] = (),
    title: str = "",
    bands: bool = True,
) -> Path:
    """Accuracy (%) of every method against k or against mean generated tokens per problem.

    x: "k" (log2 axis) or "tokens" (log axis). extra_points: (label, tokens, accuracy in
    [0, 1]) single runs such as beam search, drawn as markers on the tokens plot.
    Shaded bands (bands=True) span each curve's 5th-95th percentile over bootstrap draws.
    """
    if x not in ("k", "tokens"):
        raise ValueError(f"x must be 'k' or 'tokens', got {x!r}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError("plots need matplotlib: pip install 'prm-toolkit[plot]'") from error
    from matplotlib import colormaps

    figure = Figure(figsize=(9, 4.8))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    colors = colormaps["tab20"].colors
    methods = list(dict.fromkeys(p.method for p in points))
    for index, method in enumerate(methods):
        series = sorted((p for p in points if p.method == method), key=lambda p: p.k)
        xs = [p.k if x == "k" else p.tokens for p in series]
        color = "black" if method == "pass" else colors[index % len(colors)]
        style = "--" if method == "pass" else "-"
        axes.plot(xs, [100 * p.mean for p in series], style, color=color, marker="o", markersize=3, label=method)
        if bands:
            lows, highs = [100 * p.p5 for p in series], [100 * p.p95 for p in series]
            axes.fill_between(xs, lows, highs, color=color, alpha=0.06)
    if x == "tokens":
        markers = "*^vDsP"
        for index, (label, tokens, accuracy) in enumerate(extra_points):
            axes.plot([tokens], [100 * accuracy], marker=markers[index % len(markers)], markersize=10,
                      linestyle="", color=colors[(len(methods) + 2 * index) % len(colors)], label=label)
    axes.set_xscale("log", base=2 if x == "k" else 10)
    axes.set_xlabel("samples per problem (k)" if x == "k" else "generated tokens per problem")
    axes.set_ylabel("accuracy (%)")
    axes.set_title(title or f"accuracy vs {'k' if x == 'k' else 'generated tokens'}")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path
