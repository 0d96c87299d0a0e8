"""The batch's worker: a Ray Data callable class (`Dataset.map_batches` with an actor pool) that loads the models once,
then labels one segment per call with the app's own pipeline (core.pipeline.FacePipeline, core.tracking.FaceTracker,
core.video.read_frames), exactly as `app.py predict` labels a photo or a whole video.

A segment row in: segment, path (readable where the worker runs), file (its name in the tables), is_video, fps,
start, stop (-1: to the end), warmup_start. A row out: segment, frames (labelled in [start, stop)), error (empty,
or why the file cannot be labelled) and table (the faces of frames warmup_start..stop as Arrow IPC bytes, batch.faces;
the warm-up rows let batch.stitch match the tracks with the segment before).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from batch.faces import FaceRows, to_bytes

NO_STOP = -1


def label_segment(pipeline, path: Path, file: str, is_video: bool, fps: float, start: int, stop: int | None,
                  warmup_start: int) -> tuple[bytes, int]:
    """(faces of the segment and its warm-up as Arrow IPC bytes, frames labelled in [start, stop)). Raises
    core.pipeline.InputError or core.video.VideoError for a file that cannot be read."""
    from core.tracking import FaceTracker
    from demo.predict_cli import read_image

    rows = FaceRows(file, fps if is_video else 0.0)
    if not is_video:
        # as `predict` labels a photo: untracked, both TTA views, tiled detection, up to MAX_FACES_PHOTO faces
        rows.add(0, pipeline.process(read_image(path), photo=True))
        return to_bytes(rows.table()), 1
    tracker = FaceTracker()
    tracker.frames = warmup_start  # the TTA view alternates by frame number (core.pipeline.tta_view), as in one pass
    frames = 0
    for index, result in pipeline.run_video(path, tracker, None, stop, warmup_start):
        rows.add(index, result)
        frames += index >= start
    return to_bytes(rows.table()), frames


class SegmentLabeller:
    """One per Ray worker: the pipeline is built once, in __init__, from the model folders the environment names
    (core.pipeline's FACEXP_EMOTION_MODEL and FACEXP_MASK_MODEL, set for the workers by batch.engine)."""

    def __init__(self):
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from core.pipeline import FacePipeline

        self.pipeline = FacePipeline()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from core.pipeline import InputError
        from core.video import VideoError

        out: dict[str, list] = {"segment": [], "frames": [], "error": [], "table": []}
        for i in range(len(batch["segment"])):
            path, stop = Path(str(batch["path"][i])), int(batch["stop"][i])
            table, frames, error = b"", 0, ""
            try:
                table, frames = label_segment(self.pipeline, path, str(batch["file"][i]), bool(batch["is_video"][i]),
                                              float(batch["fps"][i]), int(batch["start"][i]),
                                              None if stop == NO_STOP else stop, int(batch["warmup_start"][i]))
            except (InputError, VideoError) as problem:
                error = str(problem).removeprefix(f"{path}: ")  # the caller names the file its own way
            except (OSError, ValueError, RuntimeError) as problem:  # a decoder or reader giving up on a damaged file
                error = f"cannot be labelled ({problem})"
            out["segment"].append(int(batch["segment"][i]))
            out["frames"].append(frames)
            out["error"].append(error)
            out["table"].append(table)
        return {"segment": np.array(out["segment"], np.int64), "frames": np.array(out["frames"], np.int64),
                "error": np.array(out["error"], object), "table": np.array(out["table"], object)}
