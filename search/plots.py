"""PNG plots of accuracy against k and against generated tokens (matplotlib, optional).

Public: `plot_curves`, `headline_methods`, `new_figure`, `save_png`.

Uses matplotlib's object API (`Figure` + the Agg canvas), so no global pyplot state is touched.
matplotlib is imported when a plot is drawn; without it `plot_curves` raises ImportError naming
the extra to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from search.curves import CurvePoint


def new_figure(width: float, height: float, layout: str | None = "constrained"):
    """A matplotlib `Figure` on the Agg canvas, outside pyplot's state."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError("plots need matplotlib: pip install 'prm-toolkit[plot]'") from error
    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path: str | Path) -> Path:
    """The figure as a PNG at `path`, replaced atomically (a failed save leaves the old file)."""
    from prm.atomic import atomic_writer

    path = Path(path)
    with atomic_writer(path, binary=True) as handle:
        figure.savefig(handle, format="png", dpi=120)
    return path


def headline_methods(
    points: Sequence[CurvePoint], aggregation: str = "min", requested: Sequence[str] | None = None
) -> list[str]:
    """The rules a plot shows: by default pass@k, majority, weighted vote and best-of-n with the
    chosen PRM aggregation, and the ORM (those present); `requested` names others ('all': every
    rule)."""
    present = list(dict.fromkeys(p.method for p in points))
    if requested:
        if list(requested) == ["all"]:
            return present
        unknown = [m for m in requested if m not in present]
        if unknown:
            raise ValueError(f"--plot-methods {' '.join(unknown)}: not among {', '.join(present)}")
        return list(requested)
    wanted = ["pass", "majority", f"weighted:prm:{aggregation}", f"rm:prm:{aggregation}", "rm:orm"]
    return [m for m in wanted if m in present]


_LABELS = {"pass": "pass@k (oracle)", "majority": "majority vote", "rm:orm": "ORM best-of-k"}


def _label(method: str) -> str:
    if method in _LABELS:
        return _LABELS[method]
    kind, _, key = method.partition(":")
    if kind == "rm":
        return f"PRM best-of-k ({key.split(':', 1)[1]})" if key.startswith("prm:") else f"best-of-k ({key})"
    if kind == "weighted":
        return f"weighted vote ({key.replace(':', ' ')})"
    return method


def spaced_ticks(values: Sequence[float], ratio: float = 1.35, most: int = 8) -> list[float]:
    """The sorted values thinned on a log axis so that labels do not overlap: each kept tick is
    at least `ratio` times the one before (beam's 164 tokens beside best-of-8's 185 keeps one),
    then at most `most` of them, evenly spread."""
    kept: list[float] = []
    for value in sorted(values):
        if not kept or value >= ratio * kept[-1]:
            kept.append(value)
    return kept[:: -(-len(kept) // most)] if len(kept) > most else kept


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
    Shaded bands (bands=True) span each point's 95% bootstrap interval over problems. Axes use
    plain-number ticks at the measured k (or token) values.
    """
    if x not in ("k", "tokens"):
        raise ValueError(f"x must be 'k' or 'tokens', got {x!r}")
    figure = new_figure(9, 4.8, layout=None)
    from matplotlib import colormaps

    axes = figure.add_subplot(1, 1, 1)
    colors = colormaps["tab10"].colors
    methods = list(dict.fromkeys(p.method for p in points))
    for index, method in enumerate(methods):
        series = sorted((p for p in points if p.method == method), key=lambda p: p.k)
        xs = [p.k if x == "k" else p.tokens for p in series]
        color = "black" if method == "pass" else colors[index % len(colors)]
        style = "--" if method == "pass" else "-"
        axes.plot(xs, [100 * p.mean for p in series], style, color=color, marker="o", markersize=3,
                  label=_label(method))
        if bands:
            lows, highs = [100 * p.ci_low for p in series], [100 * p.ci_high for p in series]
            axes.fill_between(xs, lows, highs, color=color, alpha=0.12, linewidth=0)
    if x == "tokens":
        markers = "*^vDsP"
        for index, (label, tokens, accuracy) in enumerate(extra_points):
            axes.plot([tokens], [100 * accuracy], marker=markers[index % len(markers)], markersize=10,
                      linestyle="", color=colors[(len(methods) + 2 * index) % len(colors)], label=label)
    axes.set_xscale("log", base=2 if x == "k" else 10)
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ticks = sorted({p.k if x == "k" else p.tokens for p in points} | {t for _, t, _ in (extra_points if x == "tokens" else ())})
    if x == "tokens":
        ticks = spaced_ticks(ticks)
    axes.xaxis.set_major_locator(FixedLocator(ticks))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}"))
    axes.set_xlabel("samples per problem (k)" if x == "k" else "generated tokens per problem")
    axes.set_ylabel("accuracy (%)")
    import textwrap

    axes.set_title("\n".join(textwrap.wrap(title or f"accuracy vs {'k' if x == 'k' else 'generated tokens'}", 70)),
                   fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return save_png(figure, path)
