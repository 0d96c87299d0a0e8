"""How often the mask network sees faces in profile, and how right it is on them: the measure behind the tracker's
rule that profile views keep a track's mask average (core/tracking.py).

    .venv/bin/python -m bench.profile_views

1. The face-mask folder (what the mask network learned from): the share of its photos whose detected face is in
   profile (`core.tracking.in_profile` on BlazeFace's keypoints).
2. The footage clips labelled bare or masked (`bench.footage.VIDEO_TRUTH`), every frame: each face the pipeline would
   judge (side >= its min_judged_side) classified on its own, no tracker, split by view (frontal or profile): how
   often the network's label is right, per clip and in all.
"""

from __future__ import annotations

import os
import platform
import time
from collections import Counter

from bench.footage import EXPECTED_MASK, PHOTO_SUFFIXES, VIDEO_TRUTH, read_rgb
from core.pipeline import FacePipeline
from core.preprocess import crop_faces
from core.tracking import in_profile
from core.video import read_frames
from train.data import data_dir


def main() -> None:
    start = time.time()
    root = data_dir()
    pipeline = FacePipeline()
    model, detector = pipeline.mask_model, pipeline.detector
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start")

    views = Counter()
    for path in sorted((root / "facemask").rglob("*")):
        if path.suffix.lower() in PHOTO_SUFFIXES:
            faces = detector.detect(read_rgb(path))
            if faces:
                views["profile" if in_profile(max(faces, key=lambda d: d.score).keypoints) else "frontal"] += 1
    total = sum(views.values())
    print(f"face-mask folder: {total} photos with a face found, {views['profile']} in profile "
          f"({views['profile'] / total:.1%})")

    right, seen = Counter(), Counter()
    for name, truth in VIDEO_TRUTH.items():
        if truth not in EXPECTED_MASK:
            continue
        for _, frame in read_frames(root / "footage" / "videos" / name, None):
            faces = [d for d in detector.detect(frame) if min(d.box[2:]) >= pipeline.min_judged_side]
            if not faces:
                continue
            probabilities = model.predict_proba(crop_faces(frame, [d.box for d in faces], model.size, model.channels))
            for face, p in zip(faces, probabilities):
                view = "profile" if in_profile(face.keypoints) else "frontal"
                hit = model.labels[int(p.argmax())] == EXPECTED_MASK[truth]
                for key in ((name, view), ("all clips", view)):
                    seen[key] += 1
                    right[key] += hit
    print("| clip | frontal: right / faces | profile: right / faces |")
    print("|---|---|---|")
    for clip in [*sorted({clip for clip, _ in seen} - {"all clips"}), "all clips"]:
        cells = [f"{right[clip, v] / seen[clip, v]:.1%} of {seen[clip, v]}" if seen[clip, v] else "—"
                 for v in ("frontal", "profile")]
        print(f"| {clip} | {cells[0]} | {cells[1]} |")
    print(f"# {time.time() - start:.0f} s, load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
