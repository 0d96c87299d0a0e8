"""Face crop -> network input, exactly as in training. The browser does the same steps (web_static/js/preprocess.js),
reading the constants from the exported `metadata.json` ("crop").

Steps for one detected face box (x, y, w, h) in an RGB frame:
1. a square around the box centre, side = CROP_SCALE * max(w, h); parts outside the frame are filled by edge
   replication. (CROP_SHIFT_Y would move the centre down by that fraction of the side; it is 0, the value every
   shipped model was trained with, and stays a field of the exported "crop" because the page's preprocess.js
   computes the same square from it);
2. resize to the network's size (48 for expression, 64 for mask) with area interpolation;
3. grayscale (ITU-R BT.601 weights, as OpenCV) for 1-channel networks, RGB for 3-channel ones;
4. float32 pixels 0-255. The network rescales them itself;
5. only for a model trained on levelled faces (its metadata's "crop" has "level_eyes": true, see `level_eyes`): the
   crop turned about its centre so that the eyes (the detector's first two keypoints) are level.

Training does step 5 on its own images alike when asked (`python -m train.train --level-eyes`, train/registration.py):
a network trained on upright faces is fed upright faces, and cannot learn FER2013's link between a tilted head and an
expression. The shipped models are not trained so.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

CROP_SCALE = 1.2
CROP_SHIFT_Y = 0.0
MAX_EYE_ROLL_DEGREES = 45.0  # a steeper eye line is turned by this much only (the keypoints of such faces are unsure)


def crop_square(box, frame_width: int, frame_height: int, scale: float = CROP_SCALE, shift_y: float = CROP_SHIFT_Y):
    """Integer square (x0, y0, side) around a face box, possibly reaching outside the frame."""
    x, y, w, h = box
    side = max(1, int(round(scale * max(w, h))))
    cx = x + w / 2.0
    cy = y + h / 2.0 + shift_y * side
    return int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), side


def crop_face(frame_rgb: np.ndarray, box, size: int, channels: int) -> np.ndarray:
    """One face crop as float32 (size, size, channels), 0-255."""
    height, width = frame_rgb.shape[:2]
    x0, y0, side = crop_square(box, width, height)
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    source = frame_rgb
    if pad:
        source = cv2.copyMakeBorder(frame_rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    patch = source[y0 : y0 + side, x0 : x0 + side]
    patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    if channels == 1:
        patch = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)[..., None]
    return patch.astype(np.float32)


def eye_roll(keypoints) -> float:
    """The angle (radians, image axes: positive = clockwise on screen) of the line from the right eye to the left eye,
    keypoints [[x, y], ...] with the right eye (the person's) first; limited to +-MAX_EYE_ROLL_DEGREES."""
    (right_x, right_y), (left_x, left_y) = keypoints[0], keypoints[1]
    limit = math.radians(MAX_EYE_ROLL_DEGREES)
    return min(max(math.atan2(left_y - right_y, left_x - right_x), -limit), limit)


def sample_turned_square(image: np.ndarray, centre, side: float, angle: float, size: int, outside: str) -> np.ndarray:
    """A square of `side` pixels around `centre` (x, y) of an image (H, W, C), turned by `angle` (radians), sampled at
    size x size points, float64 (size, size, C): point (u, v) samples the image at
    centre + R(angle) . (((u + 0.5) / size - 0.5) * side, ((v + 0.5) / size - 0.5) * side), bilinearly between the
    four nearest pixel centres (pixel i's centre at i + 0.5). `outside`: "black" (0) or "edge" (the nearest edge
    pixel) for samples beyond the image. The face check's input (core/face_check.py) and `level_eyes` are such
    squares; web_static/js/preprocess.js, `sampleTurnedSquare`, is its twin."""
    cos, sin = math.cos(angle), math.sin(angle)
    offsets = ((np.arange(size, dtype=np.float64) + 0.5) / size - 0.5) * side
    du, dv = np.meshgrid(offsets, offsets)  # du along the columns (u), dv along the rows (v)
    sample_x = centre[0] + cos * du - sin * dv - 0.5  # in pixel-centre units
    sample_y = centre[1] + sin * du + cos * dv - 0.5
    x0, y0 = np.floor(sample_x).astype(np.int64), np.floor(sample_y).astype(np.int64)
    fx, fy = (sample_x - x0)[..., None], (sample_y - y0)[..., None]
    height, width = image.shape[:2]

    def pixels(px, py):
        values = image[np.clip(py, 0, height - 1), np.clip(px, 0, width - 1)].astype(np.float64)
        if outside == "edge":
            return values
        return np.where(((px >= 0) & (px < width) & (py >= 0) & (py < height))[..., None], values, 0.0)

    top = pixels(x0, y0) * (1 - fx) + pixels(x0 + 1, y0) * fx
    bottom = pixels(x0, y0 + 1) * (1 - fx) + pixels(x0 + 1, y0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def level_eyes(crop: np.ndarray, roll: float) -> np.ndarray:
    """A square crop (S, S, C) turned about its centre by `roll` (radians, `eye_roll`) so that the eyes are level,
    float32; samples outside the crop take the nearest edge pixel (`sample_turned_square`)."""
    size = crop.shape[0]
    return sample_turned_square(crop, (size / 2, size / 2), size, roll, size, "edge").astype(np.float32)


def crop_faces(frame_rgb: np.ndarray, boxes, size: int, channels: int, keypoints=None) -> np.ndarray:
    """All faces of a frame as one batch (N, size, size, channels) float32; with `keypoints` (one list per face),
    each crop turned so that its eyes are level (step 5)."""
    if len(boxes) == 0:
        return np.zeros((0, size, size, channels), np.float32)
    crops = [crop_face(frame_rgb, box, size, channels) for box in boxes]
    if keypoints is not None:
        crops = [level_eyes(crop, eye_roll(points)) for crop, points in zip(crops, keypoints)]
    return np.stack(crops)


def crop_metadata(level: bool = False) -> dict:
    """The crop constants of a model trained with (`level`) or without levelled eyes, written into its metadata (and
    exported for the browser)."""
    crop = {"scale": CROP_SCALE, "shift_y": CROP_SHIFT_Y, "resize": "area"}
    if level:
        crop |= {"level_eyes": True, "max_eye_roll_degrees": MAX_EYE_ROLL_DEGREES}
    return crop
