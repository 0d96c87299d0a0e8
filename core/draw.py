"""Drawing the results on a frame (no inference here): a box per face, its label and confidence, and a banner.

- Box colour by mask status: green = with mask, red = without mask, amber = no mask model loaded.
- Label, two short lines so that neighbouring faces' labels rarely overlap: "happy 87%" over "no mask 95%"; for a
  masked face the expression is shown as less certain: "happy (?) 41%" over "mask 98%".
- Banner at the bottom (the top-left corner is often covered by the viewer's own label): how many faces are without a mask (when the mask model is loaded), and any note from the
  pipeline (e.g. "30 faces found; the 20 largest are labelled").
- Text and line sizes scale with the frame, so labels stay legible from 160 px thumbnails to 6000 px photos.
"""

from __future__ import annotations

import cv2
import numpy as np

COLOR_WITH_MASK = (0, 200, 0)
COLOR_WITHOUT_MASK = (230, 30, 30)
COLOR_NO_MASK_MODEL = (255, 191, 0)
COLOR_TEXT = (255, 255, 255)
COLOR_BANNER_ALERT = (200, 0, 0)
COLOR_BANNER_NOTE = (60, 60, 60)
UNCERTAIN_MARK = "(?)"  # after the expression of a masked face
MASK_TEXT = "mask"
NO_MASK_TEXT = "no mask"
ALERT_TEXT = "ALERT: {count} face{plural} without mask"  # plural: "s" for more than one face
FONT_SCALE_PER_PIXEL = 1 / 700  # font scale per pixel of the frame's shorter side
MIN_FONT_SCALE = 0.4


def text_style(frame_shape) -> tuple[float, int]:
    """(font scale, line thickness) for a frame of this size."""
    short_side = min(frame_shape[:2])
    scale = max(MIN_FONT_SCALE, short_side * FONT_SCALE_PER_PIXEL)
    return scale, max(1, int(round(scale * 2)))


def face_label(face: dict) -> str:
    """The text shown above one face box: the expression, then (on a second line) the mask status."""
    emotion = face["emotion"]
    confidence = f"{emotion['scores'][emotion['label']]:.0%}"
    mask = face.get("mask")
    if mask is None:
        return f"{emotion['label']} {confidence}"
    if mask["label"] == "with_mask":
        return f"{emotion['label']} {UNCERTAIN_MARK} {confidence}\n{MASK_TEXT} {mask['score']:.0%}"
    return f"{emotion['label']} {confidence}\n{NO_MASK_TEXT} {mask['score']:.0%}"


def face_color(face: dict) -> tuple[int, int, int]:
    mask = face.get("mask")
    if mask is None:
        return COLOR_NO_MASK_MODEL
    return COLOR_WITH_MASK if mask["label"] == "with_mask" else COLOR_WITHOUT_MASK


def drawing_metadata() -> dict:
    """The colours (RGB) and label texts, exported for the browser's draw.js (web_static/models/index.json)."""
    return {
        "colors": {
            "with_mask": list(COLOR_WITH_MASK),
            "without_mask": list(COLOR_WITHOUT_MASK),
            "no_mask_model": list(COLOR_NO_MASK_MODEL),
            "text": list(COLOR_TEXT),
            "banner_alert": list(COLOR_BANNER_ALERT),
            "banner_note": list(COLOR_BANNER_NOTE),
        },
        "uncertain_mark": UNCERTAIN_MARK,
        "mask_text": MASK_TEXT,
        "no_mask_text": NO_MASK_TEXT,
        "alert_text": ALERT_TEXT,
    }


def put_label(image: np.ndarray, text: str, x: int, y: int, color, scale: float, thickness: int, above: bool = True):
    """Text (one or more lines) on a filled box, placed above (x, y) when there is room, else below it; kept inside
    the image."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    lines = text.split("\n")
    sizes = [cv2.getTextSize(line, font, scale, thickness) for line in lines]
    width = max(w for (w, _), _ in sizes)
    height = max(h for (_, h), _ in sizes)
    line_h = height + max(b for _, b in sizes)
    pad = max(2, thickness * 2)
    box_h = line_h * len(lines) + 2 * pad
    top = y - box_h if above and y - box_h >= 0 else y
    top = min(max(0, top), max(0, image.shape[0] - box_h))
    left = min(max(0, x), max(0, image.shape[1] - width - 2 * pad))
    cv2.rectangle(image, (left, top), (left + width + 2 * pad, top + box_h), color, -1)
    for i, line in enumerate(lines):
        baseline_y = top + pad + height + i * line_h
        cv2.putText(image, line, (left + pad, baseline_y), font, scale, COLOR_TEXT, thickness, cv2.LINE_AA)


def banner_text(faces: list[dict], has_mask_model: bool, note: str | None) -> tuple[str | None, tuple[int, int, int]]:
    parts, color = [], COLOR_BANNER_NOTE
    if has_mask_model:
        unmasked = sum(1 for face in faces if face.get("mask") and face["mask"]["label"] == "without_mask")
        if unmasked:
            parts.append(ALERT_TEXT.format(count=unmasked, plural="s" if unmasked > 1 else ""))
            color = COLOR_BANNER_ALERT
    if note:
        parts.append(note)
    return (" | ".join(parts) if parts else None), color


def annotate(frame_rgb: np.ndarray, faces: list[dict], has_mask_model: bool = False, note: str | None = None) -> np.ndarray:
    """A copy of the frame with every face's box and label, and the banner."""
    image = np.ascontiguousarray(frame_rgb).copy()
    scale, thickness = text_style(image.shape)
    for face in faces:
        x, y, w, h = face["box"]
        color = face_color(face)
        cv2.rectangle(image, (x, y), (x + w, y + h), color, thickness + 1)
        put_label(image, face_label(face), x, y, color, scale, thickness)
    text, color = banner_text(faces, has_mask_model, note)
    if text:
        put_label(image, text, 0, image.shape[0], color, scale, thickness)
    return image
