"""Face crop -> network input, exactly as in training. The browser does the same steps (web_static/js/preprocess.js),
reading the constants from the exported `metadata.json` ("crop").

Steps for one detected face box (x, y, w, h) in an RGB frame:
1. a square around the box centre, side = CROP_SCALE * max(w, h); parts outside the frame are filled by edge
   replication. (CROP_SHIFT_Y would move the centre down by that fraction of the side; it is 0, the value every
   shipped model was trained with, and stays a field of the exported "crop" because the page's preprocess.js
   computes the same square from it);
2. resize to the network's size (48 for expression, 64 for mask) with area interpolation;
3. grayscale (ITU-R BT.601 weights, as OpenCV) for 1-channel networks, RGB for 3-channel ones;
4. float32 pixels 0-255. The network rescales them itself.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SCALE = 1.2
CROP_SHIFT_Y = 0.0


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


def crop_faces(frame_rgb: np.ndarray, boxes, size: int, channels: int) -> np.ndarray:
    """All faces of a frame as one batch (N, size, size, channels) float32."""
    if len(boxes) == 0:
        return np.zeros((0, size, size, channels), np.float32)
    return np.stack([crop_face(frame_rgb, box, size, channels) for box in boxes])


def crop_metadata() -> dict:
    """The crop constants, written into exported metadata for the browser."""
    return {"scale": CROP_SCALE, "shift_y": CROP_SHIFT_Y, "resize": "area"}
