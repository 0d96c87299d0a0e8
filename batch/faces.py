"""The batch's table of faces: one row per face per frame, the columns of the Video tab's CSV (demo/gradio_app.py)
with the file in front and `too_small` and `head_turned` at the end.

    file, frame, time_s, face, track, x, y, w, h, detector_score, emotion, p_<expression> (seven), mask, mask_score,
    too_small, head_turned

`face` is the face's number in its frame (1 = the largest, as in the apps); `track` the tracked person (videos), null
for a photo and for a face not yet on a confirmed track (core.tracking.MIN_TRACK_FRAMES); `emotion` and the
probabilities are the smoothed ones a video shows (`app.py predict --json`'s "emotion"), null where the face has none
(a masked face: its expression is not readable; a head turned too far to read it, `head_turned`; a face too small
to judge); `mask` the shown mask label and its
probability, null without a mask model or for a face too small to judge; `too_small`: the face's box is under
core.pipeline.MIN_JUDGED_SIDE pixels, so it got no labels. A photo is frame 0 at 0 s.
"""

from __future__ import annotations

import pyarrow as pa

from core.labels import EMOTIONS

TIME_DECIMALS = 3

SCHEMA = pa.schema([
    ("file", pa.string()),
    ("frame", pa.int64()),
    ("time_s", pa.float64()),
    ("face", pa.int32()),
    ("track", pa.int64()),
    ("x", pa.int32()), ("y", pa.int32()), ("w", pa.int32()), ("h", pa.int32()),
    ("detector_score", pa.float64()),
    ("emotion", pa.string()),
    *[(f"p_{label}", pa.float64()) for label in EMOTIONS],
    ("mask", pa.string()),
    ("mask_score", pa.float64()),
    ("too_small", pa.bool_()),
    ("head_turned", pa.bool_()),
])
PROBABILITY_COLUMNS = [f"p_{label}" for label in EMOTIONS]


class FaceRows:
    """Rows of the table, column by column, as frames are labelled."""

    def __init__(self, file: str, fps: float):
        self.file, self.fps = file, fps
        self.columns: dict[str, list] = {name: [] for name in SCHEMA.names}

    def add(self, frame: int, result) -> None:
        """The faces of one core.pipeline.FrameResult (track ids when it was tracked)."""
        time_s = round(frame / self.fps, TIME_DECIMALS) if self.fps else 0.0
        for i, face in enumerate(result.faces):
            columns, emotion, mask = self.columns, face["emotion"], face["mask"]
            columns["file"].append(self.file)
            columns["frame"].append(frame)
            columns["time_s"].append(time_s)
            columns["face"].append(i + 1)
            columns["track"].append(result.track_ids[i] if result.track_ids else None)  # None: not confirmed yet
            for name, value in zip("xywh", face["box"]):
                columns[name].append(value)
            columns["detector_score"].append(face["score"])
            columns["emotion"].append(emotion["label"] if emotion else None)
            for label in EMOTIONS:
                columns[f"p_{label}"].append(emotion["scores"][label] if emotion else None)
            columns["mask"].append(mask["label"] if mask else None)
            columns["mask_score"].append(mask["score"] if mask else None)
            columns["too_small"].append(face["too_small"])
            columns["head_turned"].append(face["head_turned"])

    def table(self) -> pa.Table:
        return pa.table(self.columns, schema=SCHEMA)


def to_bytes(table: pa.Table) -> bytes:
    """A table as Arrow IPC bytes (how a worker hands a segment's rows back through Ray)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_bytes(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
