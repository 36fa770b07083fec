"""Bar chart of the Pants/ko ratios (docs/benchmarks.png).

Runs in the benchmark's own throw-away venv (bench/run makes it), the only place matplotlib
is installed: a benchmark-only dependency that the plugin never imports.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display on the benchmark machine
import matplotlib.pyplot as plt  # noqa: E402


def main(ratios_path: str, png_path: str) -> None:
    ratios = json.load(open(ratios_path))
    names = list(ratios)
    values = [ratios[n] for n in names]
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(names) + 1.5))
    colors = ["#2e7d32" if v <= 1.0 else "#c62828" for v in values]
    bars = ax.barh(names, values, color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xlabel("Pants time / best ko time (lower is better; < 1 means Pants is faster)")
    ax.set_title("pants-backend-ko vs ko: median wall time ratio per scenario")
    ax.invert_yaxis()
    for bar, v in zip(bars, values):
        ax.text(bar.get_width() + 0.02, bar.get_y() + bar.get_height() / 2, f"{v:.2f}×", va="center")
    ax.set_xlim(0, max(values + [1.0]) * 1.2)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
