"""What one file's table of faces (batch.faces) comes to: the summary CSV and the expression-over-time plot.

Summary CSV, a row for the whole file (person "all") and one per person (a confirmed track; in a photo, each face):

    file, person, duration_s, frames, faces, people, seen_s, <expression>_s (seven), unmasked_share

- duration_s: the file's length (frames labelled / frames per second; 0 for a photo);
- frames: frames labelled (a person: frames where they were seen); faces: rows of the table (a person: their rows);
  people: the persons of the rows below (distinct track ids; in a photo, the faces). A face not yet on a confirmed
  track (null track: core.tracking.MIN_TRACK_FRAMES) is one of the file's faces but no person's, as in the live
  session (core.session);
- seen_s and <expression>_s: each face in a frame counts one frame's time (1 / fps), and that time goes to the
  expression shown then, the smoothed label (`app.py predict`'s "emotion"); a face without one (masked: its
  expression is not readable; too small to judge) credits no expression, as in the live session, so the seven add up
  to seen_s less that time. "all" counts every face of the table. Empty for a photo (no time);
- unmasked_share: of the faces with a mask label, the share shown without a mask (a face too small to judge has no
  label and is not counted; empty without a mask model, or without such faces).

The plot: one panel per person (the MAX_PLOT_PEOPLE seen longest), the seven expression probabilities over time in
the apps' colours (core.draw.expression_colors), the lines broken where the person was not seen or showed no
expression (the panel's title says for how long); a photo gets one bar chart per face (MAX_PLOT_PEOPLE largest), or why it has none.
"""

from __future__ import annotations

import csv
import io
import math

import pyarrow as pa

from core.labels import EMOTIONS
from core.session import UNMASKED

MAX_PLOT_PEOPLE = 6
SECONDS_DECIMALS = 2
PLOT_DPI = 110
PLOT_WIDTH_IN, PANEL_HEIGHT_IN, HEADER_IN, FOOTER_IN = 9.0, 1.9, 1.0, 0.5  # inches: title + legend, x label
COLUMNS = ["file", "person", "duration_s", "frames", "faces", "people", "seen_s", *[f"{e}_s" for e in EMOTIONS],
           "unmasked_share"]


def _people(columns: dict[str, list], video: bool) -> dict[str, list[int]]:
    """Row indices per person: "track N" in a video (a face with no confirmed track is no one's), "face N" in a photo
    (no tracks), longest seen first."""
    people: dict[str, list[int]] = {}
    for i, (track, face) in enumerate(zip(columns["track"], columns["face"])):
        if not video:
            people.setdefault(f"face {face}", []).append(i)
        elif track is not None:
            people.setdefault(f"track {track}", []).append(i)
    return dict(sorted(people.items(), key=lambda item: (-len(item[1]), item[1][0])))


def summary_rows(file: str, table: pa.Table, frames: int, fps: float) -> list[dict]:
    """The summary CSV's rows (see the module docstring); fps 0 for a photo."""
    columns = table.select(["track", "face", "frame", "emotion", "mask"]).to_pydict()
    people = _people(columns, bool(fps))

    def row(person: str, indices: list[int], person_frames: int, count_people: int) -> dict:
        seconds = {label: 0 for label in EMOTIONS}
        for i in indices:
            if columns["emotion"][i] is not None:  # masked or too small: no expression to credit
                seconds[columns["emotion"][i]] += 1
        masks = [columns["mask"][i] for i in indices if columns["mask"][i] is not None]
        timed = (lambda n: round(n / fps, SECONDS_DECIMALS)) if fps else (lambda n: "")
        return {
            "file": file, "person": person,
            "duration_s": round(frames / fps, SECONDS_DECIMALS) if fps else 0,
            "frames": person_frames, "faces": len(indices), "people": count_people,
            "seen_s": timed(len(indices)),
            **{f"{label}_s": timed(seconds[label]) for label in EMOTIONS},
            "unmasked_share": round(sum(m == UNMASKED for m in masks) / len(masks), 4) if masks else "",
        }

    rows = [row("all", list(range(table.num_rows)), frames, len(people))]
    for person, indices in people.items():
        rows.append(row(person, indices, len({columns["frame"][i] for i in indices}), 1))
    return rows


def summary_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def expression_plot(file: str, table: pa.Table, fps: float, duration_s: float = 0.0):
    """The plot as a matplotlib figure (see the module docstring); the caller saves and closes it. Time runs from 0
    to `duration_s` (the file's length)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.draw import expression_colors, expression_text

    colors = expression_colors()
    columns = table.select(["track", "face", "frame", "time_s", "emotion", "too_small", "head_turned",
                            *[f"p_{e}" for e in EMOTIONS]]).to_pydict()
    for label in EMOTIONS:  # a face without an expression: a gap in the lines
        columns[f"p_{label}"] = [math.nan if p is None else p for p in columns[f"p_{label}"]]
    people = list(_people(columns, bool(fps)).items())[:MAX_PLOT_PEOPLE]
    panels = max(1, len(people))
    height = HEADER_IN + PANEL_HEIGHT_IN * panels + FOOTER_IN
    fig, axes = plt.subplots(panels, 1, figsize=(PLOT_WIDTH_IN, height), squeeze=False, sharex=bool(fps))
    # fixed margins instead of tight_layout, which draws the figure once more (the plot is most of the driver's work)
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - HEADER_IN / height, bottom=FOOTER_IN / height, hspace=0.45)
    fig.suptitle(f"{file}: expression over time" if fps else f"{file}: expression per face", fontsize=10,
                 y=1 - 0.1 / height, va="top")
    if not people:
        axes[0][0].text(0.5, 0.5, "no face found", ha="center", va="center", transform=axes[0][0].transAxes)
        axes[0][0].set_axis_off()
    for (person, indices), (ax,) in zip(people, axes):
        if fps:
            times, values, previous = [], {label: [] for label in EMOTIONS}, None
            for i in indices:
                if previous is not None and columns["frame"][i] - previous > 1:  # not seen: the lines break (NaN)
                    times.append(math.nan)
                    for label in EMOTIONS:
                        values[label].append(math.nan)
                times.append(columns["time_s"][i])
                for label in EMOTIONS:
                    values[label].append(columns[f"p_{label}"][i])
                previous = columns["frame"][i]
            for label in EMOTIONS:
                ax.plot(times, values[label], color=colors[label], label=label, linewidth=1.0, marker=".", markersize=2)
            ax.set_xlim(0, max(duration_s, columns["time_s"][indices[-1]]) or 1)
            hidden = sum(columns["emotion"][i] is None for i in indices)  # masked, head turned or too small
            ax.set_title(f"{person}: seen {len(indices) / fps:.1f} s"
                         + (f", {hidden / fps:.1f} s of it without an expression (masked, head turned or too small)" if hidden else ""),
                         fontsize=9, loc="left")
        else:
            shown = columns["emotion"][indices[0]] is not None  # else masked, turned or too small: no bars, and why
            ax.bar(EMOTIONS, [columns[f"p_{label}"][indices[0]] if shown else 0.0 for label in EMOTIONS],
                   color=[colors[label] for label in EMOTIONS])
            why = expression_text({"emotion": None, "too_small": columns["too_small"][indices[0]],
                                   "head_turned": columns["head_turned"][indices[0]]})
            ax.set_title(person if shown else f"{person}: {why}", fontsize=9, loc="left")
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability", fontsize=8)
        ax.tick_params(labelsize=8)
    if people and fps:
        axes[-1][0].set_xlabel("time (s)", fontsize=8)
        fig.legend(*axes[0][0].get_legend_handles_labels(), fontsize=7, ncol=len(EMOTIONS), loc="upper center",
                   bbox_to_anchor=(0.5, 1 - 0.35 / height), frameon=False)
    return fig
