"""Face registration for training: FER2013's faces turned so that their eyes are level, as the apps turn every face
they classify with a model trained so (core/preprocess.py, step 5).

Why: in FER2013 a tilted head goes with sadness. On PublicTest (`python -m bench.fer_pose`: the eye line measured as
below, 3,537 of 3,589 faces found), 16.0 % of the faces whose eye line is within 10 degrees of level are labelled
sad, and 28.1 % of the 331 tilted more than 20 degrees. A network trained on the faces as they are can learn that
link; one trained and fed upright faces cannot.

An option (`python -m train.train --level-eyes`), not the shipped recipe: the cycle trained with it read the
head-pose clip's tilted heads as sad less often (50 % of the detections instead of 95 %), but the footage's other
expression measures and PublicTest's macro-F1 came out worse (BENCHMARKS.md, "Face registration in training").

Steps for one 48x48 FER2013 face:
1. enlarged to 192x192 (bilinear) and padded by 48 px of edge replication on each side, so that the whole face is in
   the detector's view;
2. BlazeFace (core.detector.FaceDetector, as the apps run it); the most confident face's eye keypoints give the roll
   (core.preprocess.eye_roll); no face found: roll 0, the face stays as it is;
3. the face turned about its centre by that roll (core.preprocess.level_eyes), rounded to uint8.
"""

from __future__ import annotations

import numpy as np

from train import log

ENLARGED_SIDE = 192
PADDING = 48


def face_keypoints(faces: np.ndarray) -> list:
    """BlazeFace's keypoints of each face of (N, S, S, 1) uint8 (steps 1-2: the most confident face of the enlarged,
    padded face; in the enlarged frame's pixels), None where no face was found."""
    import cv2

    from core.detector import FaceDetector

    detector = FaceDetector()
    found = []
    for face in faces:
        grey = cv2.resize(face[..., 0], (ENLARGED_SIDE, ENLARGED_SIDE), interpolation=cv2.INTER_LINEAR)
        grey = cv2.copyMakeBorder(grey, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_REPLICATE)
        detections = detector.detect(np.repeat(grey[..., None], 3, axis=2))
        found.append(max(detections, key=lambda d: d.score).keypoints if detections else None)
    return found


def rolls_of(keypoints: list) -> tuple[np.ndarray, int]:
    """(the roll in radians of each face's keypoints (`face_keypoints`), how many had none: roll 0)."""
    from core.preprocess import eye_roll

    rolls = np.array([eye_roll(points) if points is not None else 0.0 for points in keypoints], np.float64)
    return rolls, sum(points is None for points in keypoints)


def eye_rolls(faces: np.ndarray) -> tuple[np.ndarray, int]:
    """(roll in radians of each face of (N, S, S, 1) uint8, how many had no face found: roll 0)."""
    return rolls_of(face_keypoints(faces))


def turned_upright(faces: np.ndarray, rolls: np.ndarray) -> np.ndarray:
    """Each face (N, S, S, 1) turned by its roll (`eye_rolls`; 0: left as it is), rounded to uint8 (step 3)."""
    from core.preprocess import level_eyes

    levelled = [np.rint(level_eyes(face, roll)) if roll else face for face, roll in zip(faces, rolls)]
    return np.clip(np.stack(levelled), 0, 255).astype(np.uint8)


def level_faces(faces: np.ndarray, name: str = "faces") -> np.ndarray:
    """FER2013 faces (N, S, S, 1) uint8 with their eyes levelled (module docstring), uint8."""
    rolls, missed = eye_rolls(faces)
    tilted = int(np.sum(np.abs(np.degrees(rolls)) > 10))
    log(f"levelling the eyes of {len(faces)} {name}: {tilted} tilted more than 10 degrees, "
        f"{missed} with no face found (left as they are)")
    return turned_upright(faces, rolls)
