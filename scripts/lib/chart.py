"""Bar charts of loops relative to uvloop, shared by scripts/bench and
scripts/bench_net (`--chart FILE`, `--chart-from JSON`).

matplotlib is imported only when a chart is drawn, so the benchmark scripts
(and their worker children) run without it.
"""

import os
import sys
import textwrap

REFERENCE = "uvloop"  # every bar is a ratio to this loop
FORMATS = (".png", ".svg")
# One colour per loop, stable across charts (tab10 order).
COLORS = {"asyncio": "#7f7f7f", "uvloop": "#1f77b4", "rloop": "#ff7f0e",
          "zloop": "#2ca02c", "zig": "#9467bd"}


def check_args(prog, path, loops):
    """Argument-parse-time checks for --chart; exits with one line on failure.
    `loops` is the list of loops that will run (None: not known yet)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        sys.exit(f"{prog}: --chart {path}: the name must end in {' or '.join(FORMATS)}")
    if loops is not None and REFERENCE not in loops:
        sys.exit(f"{prog}: --chart shows every loop relative to {REFERENCE}, "
                 f"so {REFERENCE} must be among the loops run")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit(f"{prog}: --chart needs matplotlib, which {sys.executable} cannot import "
                 f"(install it: {sys.executable} -m pip install matplotlib)")


def caption(cpu, ncpu, plat, python, extra=()):
    """The machine and interpreter line(s) every chart carries."""
    parts = [f"CPU: {cpu}, {ncpu} CPUs, {plat}", f"loops ran on Python {python}"]
    return "; ".join(parts + [e for e in extra if e])


def ratios(prog, values, loops):
    """{group: {loop: value}} -> {group: {loop: value / uvloop's value or None}};
    exits when uvloop is not among `loops` (e.g. --chart-from an old run)."""
    if REFERENCE not in loops:
        sys.exit(f"{prog}: no chart: {REFERENCE} is not among the loops of this run "
                 f"({', '.join(loops)})")
    out = {}
    for group, row in values.items():
        ref = row.get(REFERENCE)
        out[group] = {l: (row[l] / ref if ref and row.get(l) is not None else None)
                      for l in loops}
    return out


def draw(prog, path, title, groups, loops, values, note):
    """Write a grouped bar chart to `path` (.png or .svg, by extension).

    groups: bar-group labels, in order; loops: bar order within a group;
    values: {group: {loop: ratio to uvloop or None}}; note: caption text
    under the axes (machine, Python, what lower/higher means)."""
    import matplotlib
    matplotlib.use("Agg")  # no display needed, none wanted
    import matplotlib.pyplot as plt

    n_groups, n_loops = len(groups), len(loops)
    width = 0.8 / max(n_loops, 1)
    fig_w = max(6.0, 1.6 + n_groups * (0.2 + 0.22 * n_loops))
    fig, ax = plt.subplots(figsize=(fig_w, 4.8))
    top = max([v for g in groups for v in values[g].values() if v is not None] or [1.0])
    for j, loop in enumerate(loops):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(n_groups)]
        ys = [values[g].get(loop) for g in groups]
        ax.bar([x for x, y in zip(xs, ys) if y is not None], [y for y in ys if y is not None],
               width * 0.92, label=loop, color=COLORS.get(loop))
        for x, y in zip(xs, ys):
            # Printed values keep tall outliers readable without a log axis.
            label, at = (f"{y:.2f}", y + top * 0.01) if y is not None else ("n/a", top * 0.01)
            ax.text(x, at, label, ha="center", va="bottom", rotation=90, fontsize=6)
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.set_xticks(range(n_groups))
    ax.set_xticklabels(groups, rotation=30 if n_groups > 4 else 0,
                       ha="right" if n_groups > 4 else "center", fontsize=8)
    ax.set_xlim(-0.6, n_groups - 0.4)
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel(f"relative to {REFERENCE} (= 1.0)")
    ax.set_title("\n".join(textwrap.wrap(title, int(fig_w * 11))), fontsize=10)
    # Outside the axes, right: never on top of a tall first bar.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    caption_lines = textwrap.wrap(note, int(fig_w * 15))
    fig.text(0.01, 0.01, "\n".join(caption_lines), fontsize=7, ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03 + 0.025 * len(caption_lines), 1, 1))
    # No timestamp and fixed ids in SVGs: the same data gives the same file.
    matplotlib.rcParams["svg.hashsalt"] = "zloop-bench"
    meta = {"Date": None} if path.lower().endswith(".svg") else {}
    fig.savefig(path, dpi=150, metadata=meta)
    plt.close(fig)
    print(f"{prog}: wrote {path}", file=sys.stderr, flush=True)
