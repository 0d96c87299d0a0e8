"""The Gradio app's results as widget values: a frame's faces as the table, the main face's chart and a summary
line; the Video tab's CSV as its track choices and the expression-over-time plot of one track."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from core import draw
from core.labels import EMOTIONS
from core.pipeline import FrameResult
from demo.gradio_errors import user_error

TABLE_COLUMNS = ["face", "track", "box [x, y, w, h]", "expression", "confidence", "mask", "mask score", "detector score"]
PHOTO_TABLE_COLUMNS = [column for column in TABLE_COLUMNS if column != "track"]  # a photo has no tracks
NO_MASK_MODEL = "n/a (no mask model)"


def face_table(result: FrameResult, tracked: bool = True) -> pd.DataFrame:
    """One row per face, numbered as on the boxes, in the boxes' words (core.draw); `tracked`: with the track
    column (webcam), else without (a photo)."""
    rows = []
    for i, face in enumerate(result.faces):
        emotion, mask = face["emotion"], face["mask"]
        rows.append([
            i + 1,
            result.track_text(i),
            str(face["box"]),
            draw.expression_text(face),
            round(emotion["scores"][emotion["label"]], 3) if emotion else "",
            draw.mask_text(mask) if mask else ("" if face["too_small"] else NO_MASK_MODEL),
            round(mask["score"], 3) if mask else "",
            round(face["score"], 3),
        ])
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table if tracked else table[PHOTO_TABLE_COLUMNS]


def face_table_empty() -> pd.DataFrame:
    return pd.DataFrame([], columns=TABLE_COLUMNS)


def main_face_chart(result: FrameResult) -> dict:
    """Probabilities of the main (largest) face for gr.Label; empty when no face or its expression is not read."""
    return result.faces[0]["emotion"]["scores"] if result.faces and result.faces[0]["emotion"] else {}


def summary(result: FrameResult) -> str:
    if not result.faces:
        return "No face found."
    text = f"{len(result.faces)} face(s); main face: **{draw.expression_text(result.faces[0])}**."
    if result.note:
        text += f" Note: {result.note}."
    return text


def video_tracks(csv_path) -> list[tuple[str, str]]:
    """The Video tab's track choices from its CSV, longest first: ("track 3 (120 frames)", "3"); without smoothing
    (no tracker) the one choice is face 1, the main face of each frame: ("face 1, main (104 frames)", "main")."""
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    tracked = [row for row in rows if row["track"] != ""]
    if not tracked:
        frames = sum(1 for row in rows if row["face"] == "1")
        return [(f"face 1, main ({frames} frames)", "main")] if frames else []
    lengths: dict[str, int] = {}
    for row in tracked:
        lengths[row["track"]] = lengths.get(row["track"], 0) + 1
    ordered = sorted(lengths.items(), key=lambda item: (-item[1], int(item[0])))
    return [(f"track {track} ({frames} frames)", track) for track, frames in ordered]


def track_plot(csv_path, track: str | None) -> pd.DataFrame:
    """Expression probabilities over time of one track of the Video tab's CSV ("main": face 1 of each frame)."""
    columns = ["time_s", "expression", "probability"]
    if not csv_path or track is None:
        return pd.DataFrame([], columns=columns)
    try:
        with open(csv_path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle)
                    if (row["face"] == "1" if track == "main" else row["track"] == str(track)) and row["emotion"]]
        points = [(float(row["time_s"]), label, float(row[f"p_{label}"])) for row in rows for label in EMOTIONS]
    except (KeyError, ValueError, TypeError, csv.Error):  # UnicodeDecodeError is a ValueError
        raise user_error(f"{Path(csv_path).name} is not a faces CSV of the Video tab (its columns or values differ).") from None
    return pd.DataFrame(points, columns=columns)
