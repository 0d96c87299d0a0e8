"""Flip TTA within a frame against flip TTA across frames, on real video.

    nice -n 5 .venv/bin/python -m bench.temporal_tta [--json]

With a tracker (smoothed video: the Gradio webcam, video files, `app.py predict` on a video) the pipeline runs one
TTA view per frame, the face and its mirror image on alternate frames (core.pipeline.tta_view), and the tracker's
moving average mixes them; before, every frame ran both views. This runs both ways over the same frames, each with its
own FaceTracker (smoothing on, as the apps), and compares what the user is shown: the expression label and the mask
label of every face on every frame, and the shown expression probabilities; and the CPU time of the two classifier
stages per frame.

Footage: every video in FACEXP_DATA/media, and the panned photo the webcam benchmarks play as a camera
(bench.gradio_stream_fps.panning_camera, two faces, 120 frames).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.pipeline import FacePipeline
from core.tracking import FaceTracker
from core.video import is_video_path, read_frames
from train.data import data_dir


def footage(media: Path, folder: Path) -> dict[str, list[np.ndarray]]:
    """name -> RGB frames: the media videos and the webcam benchmarks' panned photo."""
    from bench.gradio_stream_fps import panning_camera

    clips = {video.name: [frame for _, frame in read_frames(video)] for video in sorted(media.iterdir())
             if is_video_path(video)}
    camera = panning_camera(media / "two_people.jpg", folder)
    clips["two_people.jpg panned (webcam bench)"] = [frame for _, frame in read_frames(camera)]
    return clips


def shown(pipeline: FacePipeline, frames: list[np.ndarray]) -> tuple[list[list[dict]], float]:
    """Each frame's faces as the user is shown them (one FaceTracker over the clip), and the median CPU ms per frame
    of the expression + mask stages."""
    tracker, faces, cpu = FaceTracker(), [], []
    for frame in frames:
        result = pipeline.process(frame, tracker)
        faces.append(result.faces)
        cpu.append(result.cpu_ms["emotion"] + result.cpu_ms["mask"])
    return faces, float(np.median(cpu))


def compare(within: list[list[dict]], across: list[list[dict]], labels: tuple[str, ...]) -> dict:
    """Agreement of the shown labels and the difference of the shown probabilities, face by face (same detector, so
    the same boxes in the same order)."""
    emotion_same = mask_same = faces = 0
    differences = []
    for faces_a, faces_b in zip(within, across):
        for a, b in zip(faces_a, faces_b):
            assert a["box"] == b["box"]
            faces += 1
            emotion_same += a["emotion"]["label"] == b["emotion"]["label"]
            mask_same += a["mask"] is None or a["mask"]["label"] == b["mask"]["label"]
            differences.append(max(abs(a["emotion"]["scores"][k] - b["emotion"]["scores"][k]) for k in labels))
    return {"faces": faces, "emotion_label_agreement": emotion_same / max(1, faces),
            "mask_label_agreement": mask_same / max(1, faces),
            "emotion_prob_diff_median": float(np.median(differences)) if differences else float("nan"),
            "emotion_prob_diff_p95": float(np.percentile(differences, 95)) if differences else float("nan")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)

    within = FacePipeline(alternate_tta=False)
    across = FacePipeline(alternate_tta=True)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="facexp-tta-") as folder:
        clips = footage(data_dir() / "media", Path(folder))
    for name, frames in clips.items():
        faces_within, cpu_within = shown(within, frames)
        faces_across, cpu_across = shown(across, frames)
        rows[name] = {"frames": len(frames), **compare(faces_within, faces_across, within.emotion_model.labels),
                      "classify_cpu_ms_within": cpu_within, "classify_cpu_ms_across": cpu_across}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| footage | frames | faces | expression label same | mask label same | shown prob. diff median / p95 | "
          "expression + mask CPU per frame, TTA within a frame -> across frames |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['frames']} | {row['faces']} | {row['emotion_label_agreement']:.1%} | "
              f"{row['mask_label_agreement']:.1%} | {row['emotion_prob_diff_median']:.3f} / "
              f"{row['emotion_prob_diff_p95']:.3f} | {row['classify_cpu_ms_within']:.1f} -> "
              f"{row['classify_cpu_ms_across']:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
