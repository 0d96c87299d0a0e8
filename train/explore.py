"""Explore FER2013: a grid of sample faces per expression and the class balance per Usage.

    python -m train.explore [--data PATH] [--out runs/explore] [--per-class 8]

Writes `samples.png` (one row per expression) and `class_balance.png` (counts per class and Usage), and prints the
counts as a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from core.files import save_figure
from core.labels import EMOTIONS
from train.data import FER2013_CSV, DataError, data_dir, load_fer2013

USAGES = ("Training", "PublicTest")


def sample_grid(images: np.ndarray, labels: np.ndarray, per_class: int, path: Path, seed: int = 0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(EMOTIONS), per_class, figsize=(per_class * 1.0, len(EMOTIONS) * 1.1))
    for row, label in enumerate(EMOTIONS):
        members = np.flatnonzero(labels == row)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        for col in range(per_class):
            axis = axes[row, col]
            axis.axis("off")
            if col < len(chosen):
                axis.imshow(images[chosen[col], :, :, 0], cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_title(f"{label} ({len(members)})", loc="left", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def balance_chart(counts: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(counts)
    x = np.arange(len(EMOTIONS))
    for i, (usage, values) in enumerate(counts.items()):
        bars = axis.bar(x + i * width, values, width, label=f"{usage} ({values.sum()})")
        axis.bar_label(bars, fontsize=7)
    axis.set_xticks(x + width * (len(counts) - 1) / 2, EMOTIONS)
    axis.set_ylabel("images")
    axis.set_title("FER2013 class balance")
    axis.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="FER2013 CSV(.gz) or folder (default under FACEXP_DATA)")
    parser.add_argument("--out", type=Path, default=Path("runs/explore"))
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--skip-bad-rows", action="store_true")
    args = parser.parse_args(argv)
    path = args.data or data_dir() / FER2013_CSV
    args.out.mkdir(parents=True, exist_ok=True)

    counts, first = {}, None
    try:
        for usage in USAGES:
            try:
                images, labels, report = load_fer2013(path, usage=usage, skip_bad_rows=args.skip_bad_rows)
            except DataError as error:
                if first is None and usage == USAGES[0]:
                    # No Usage column or split folders: explore the whole file/folder as one set.
                    images, labels, report = load_fer2013(path, skip_bad_rows=args.skip_bad_rows)
                    usage = "all"
                    print(f"note: {error}; exploring every row", file=sys.stderr)
                else:
                    print(f"note: {error}", file=sys.stderr)
                    continue
            print(report.summary(), file=sys.stderr)
            counts[usage] = np.bincount(labels, minlength=len(EMOTIONS))
            if first is None:
                first = (images, labels)
            if usage == "all":
                break
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    sample_grid(*first, args.per_class, args.out / "samples.png")
    balance_chart(counts, args.out / "class_balance.png")
    print(f"{'class':<10}" + "".join(f"{u:>12}" for u in counts))
    for i, label in enumerate(EMOTIONS):
        print(f"{label:<10}" + "".join(f"{c[i]:>12}" for c in counts.values()))
    print(f"wrote {args.out / 'samples.png'} and {args.out / 'class_balance.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
