"""How FER2013's labels go with head tilt, and how an expression model reads tilted faces.

    .venv/bin/python -m bench.fer_pose [--model models/emotion] [--usage PublicTest]

Each face's tilt is the angle of its eye line, from BlazeFace's keypoints on the face enlarged to 192 px (exactly as
`python -m train.train --level-eyes` measures it: train/registration.py). Per band of tilt: faces, the share labelled
sad, the share the model calls sad, and its accuracy (with the model's own crop: levelled when its metadata says so,
and its test-time augmentation). Then the same for the faces whose expression the apps read
(`core.pipeline.expression_readable`: not in profile, tilt within MAX_READABLE_ROLL_DEGREES) and for the others.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from core.labels import EMOTIONS
from core.model_folder import EMOTION_MODEL_DIR
from train.data import FER2013_CSV, data_dir, load_fer2013

TILT_BANDS = ((0, 10), (10, 20), (20, 30), (30, 91))  # degrees, |eye-line angle|
SAD = EMOTIONS.index("sad")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(EMOTION_MODEL_DIR))
    parser.add_argument("--usage", default="PublicTest")
    args = parser.parse_args(argv)

    from core.models import FacialExpressionModel
    from core.pipeline import MAX_READABLE_ROLL_DEGREES, expression_readable
    from train.registration import face_keypoints, rolls_of, turned_upright

    start = time.time()
    faces, labels, _ = load_fer2013(data_dir() / FER2013_CSV, usage=args.usage)
    keypoints = face_keypoints(faces)
    rolls, missed = rolls_of(keypoints)
    model = FacialExpressionModel(args.model)
    crops = turned_upright(faces, rolls) if model.levels_eyes else faces
    predicted = model.predict_proba(crops.astype(np.float32)).argmax(axis=1)
    tilt = np.abs(np.degrees(rolls))
    found = np.array([points is not None for points in keypoints])

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores; "
          f"{args.usage}: {len(faces)} faces, {missed} with no face found (left out); model {args.model} "
          f"(levelled crops: {model.levels_eyes})")
    readable = np.array([points is not None and expression_readable(points) for points in keypoints])
    print("| tilt (degrees) | faces | labelled sad | called sad | accuracy |")
    print("|---|---|---|---|---|")
    groups = [(f"{low}-{min(high, 90)}", found & (tilt >= low) & (tilt < high)) for low, high in TILT_BANDS]
    groups += [(f"read by the apps (not in profile, tilt <= {MAX_READABLE_ROLL_DEGREES})", found & readable),
               ("not read (head turned)", found & ~readable)]
    for name, group in groups:
        n = int(group.sum())
        if not n:
            continue
        print(f"| {name} | {n} ({n / found.sum():.1%}) | {np.mean(labels[group] == SAD):.1%} "
              f"| {np.mean(predicted[group] == SAD):.1%} | {np.mean(predicted[group] == labels[group]):.1%} |")
    print(f"# {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
