"""Drawing the results on a frame (no inference here): a box per face, its label and confidence, and a banner.

- Box colour by mask status: green = with mask, red = without mask, amber = no mask model loaded, grey = too small
  to judge.
- Label, two short lines: "#2 happy 87%" over "no mask 95%" (the number is the "face" column of the apps' tables;
  face 1, the largest, is "#1 main", the face of the probability chart); a masked face's expression is not readable:
  "expression hidden" over "mask 98%"; a head turned too far for the expression to be read (core.pipeline,
  step 7): "head turned" over "no mask 95%"; a face too small to judge says so and nothing else.
- Labels never cover each other or any face, their own included (layout_labels): above the box, else below it (a
  face at the top edge: under its chin, not over its eyes), at smaller sizes, then the number alone; never inside a
  box. The page (draw.js layoutLabels) follows the same rule with the exported constants.
- Banner at the bottom (the top-left corner is often covered by the viewer's own label): how many faces are without a mask (when the mask model is loaded), and any note from the
  pipeline (e.g. "30 faces found; the 20 largest are labelled").
- Text and line sizes scale with the frame, so labels stay legible from 160 px thumbnails to 6000 px photos.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.labels import EMOTIONS, MASK_LABELS

COLOR_WITH_MASK = (0, 200, 0)
COLOR_WITHOUT_MASK = (230, 30, 30)
COLOR_NO_MASK_MODEL = (255, 191, 0)
COLOR_TOO_SMALL = (150, 150, 150)
COLOR_TEXT = (255, 255, 255)
COLOR_BANNER_ALERT = (200, 0, 0)
COLOR_BANNER_NOTE = (60, 60, 60)
HIDDEN_EXPRESSION_TEXT = "expression hidden"  # a masked face: its expression is not read
HEAD_TURNED_TEXT = "head turned"  # an unmasked face turned too far to read its expression (face["head_turned"])
TOO_SMALL_TEXT = "too small"  # a face too small to judge (core.pipeline.MIN_JUDGED_SIDE)
MASK_TEXT = "mask"
NO_MASK_TEXT = "no mask"
FACE_NUMBER_TEXT = "#{number}"  # before the expression: the face's number, the "face" column of the apps' tables
MAIN_FACE_TEXT = "#{number} main"  # face 1, the largest: the face of the probability chart
TRACK_TEXT = "t{track}"  # after the number, when a tracker follows the faces (video): the "track" column
ALERT_TEXT = "ALERT: {count} face{plural} without mask"  # plural: "s" for more than one face
FONT_SCALE_PER_PIXEL = 1 / 700  # font scale per pixel of the frame's shorter side
MIN_FONT_SCALE = 0.4
# Label placement, in this order, at each of these sizes (fractions of the frame's font size): the first place whose
# rectangle stays inside the frame and overlaps neither another face's box nor a label already placed (faces in table
# order, so the main face's label goes first); both places are outside the face's own box. When none fits, the label
# shrinks to the number alone ("#3", the table tells the rest), and when even that has no room it is left out rather
# than drawn over a face.
LABEL_PLACES = ("above", "below")
LABEL_SIZES = (1.0, 0.8, 0.65, 0.5)


def text_style(frame_shape) -> tuple[float, int]:
    """(font scale, line thickness) for a frame of this size."""
    short_side = min(frame_shape[:2])
    scale = max(MIN_FONT_SCALE, short_side * FONT_SCALE_PER_PIXEL)
    return scale, max(1, int(round(scale * 2)))


def face_label(face: dict, number: int | None = None, track: int | None = None) -> str:
    """The text shown above one face box: its number (when given; face 1 marked main), the expression, then (on a
    second line) the mask status."""
    if number is not None:
        prefix = (MAIN_FACE_TEXT if number == 1 else FACE_NUMBER_TEXT).format(number=number) + " "
        if track is not None:
            prefix += TRACK_TEXT.format(track=track) + " "
        return prefix + face_label(face)
    if face.get("too_small"):
        return TOO_SMALL_TEXT
    emotion, mask = face["emotion"], face.get("mask")
    expression = expression_text(face) if emotion is None else f"{emotion['label']} {emotion['scores'][emotion['label']]:.0%}"
    if mask is None:
        return expression
    return f"{expression}\n{mask_text(mask)} {mask['score']:.0%}"


def mask_text(mask: dict) -> str:
    """The mask status in the words of the label ("mask", "no mask"): the boxes and the apps' tables say the same."""
    return MASK_TEXT if mask["label"] == MASK_LABELS[0] else NO_MASK_TEXT


def expression_text(face: dict) -> str:
    """The face's expression label for tables and text, or why it has none (too small, head turned, masked)."""
    if face.get("too_small"):
        return TOO_SMALL_TEXT
    if face["emotion"]:
        return face["emotion"]["label"]
    return HEAD_TURNED_TEXT if face.get("head_turned") else HIDDEN_EXPRESSION_TEXT


def face_color(face: dict) -> tuple[int, int, int]:
    if face.get("too_small"):
        return COLOR_TOO_SMALL
    mask = face.get("mask")
    if mask is None:
        return COLOR_NO_MASK_MODEL
    return COLOR_WITH_MASK if mask["label"] == MASK_LABELS[0] else COLOR_WITHOUT_MASK


def expression_colors() -> dict[str, str]:
    """A fixed colour per expression, as "#rrggbb" (hues spread evenly): both UIs' session timelines (the page reads
    them from web_static/models/index.json, "pipeline" -> "session" -> "timeline_colors") and the batch plots."""
    import colorsys

    return {label: "#%02x%02x%02x" % tuple(round(255 * c) for c in colorsys.hls_to_rgb(i / len(EMOTIONS), 0.45, 0.7))
            for i, label in enumerate(EMOTIONS)}


def drawing_metadata() -> dict:
    """The colours (RGB) and label texts, exported for the browser's draw.js (web_static/models/index.json)."""
    return {
        "masked_label": MASK_LABELS[0],  # "with_mask"
        "colors": {
            "masked": list(COLOR_WITH_MASK),
            "unmasked": list(COLOR_WITHOUT_MASK),
            "no_mask_model": list(COLOR_NO_MASK_MODEL),
            "too_small": list(COLOR_TOO_SMALL),
            "text": list(COLOR_TEXT),
            "banner_alert": list(COLOR_BANNER_ALERT),
            "banner_note": list(COLOR_BANNER_NOTE),
        },
        "hidden_expression_text": HIDDEN_EXPRESSION_TEXT,
        "head_turned_text": HEAD_TURNED_TEXT,
        "too_small_text": TOO_SMALL_TEXT,
        "mask_text": MASK_TEXT,
        "no_mask_text": NO_MASK_TEXT,
        "alert_text": ALERT_TEXT,
        "face_number_text": FACE_NUMBER_TEXT,
        "main_face_text": MAIN_FACE_TEXT,
        "track_text": TRACK_TEXT,
        "label_places": list(LABEL_PLACES),
        "label_sizes": list(LABEL_SIZES),
    }


def overlaps(a, b) -> bool:
    """Whether two (left, top, width, height) rectangles share any pixel (touching edges do not)."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def label_candidates(box, size, frame_wh):
    """(left, top) of the label rectangle `size` = (width, height) at each of LABEL_PLACES around `box`, shifted
    sideways to stay inside the frame; None where it does not fit vertically."""
    x, y, w, h = box
    width, height = size
    frame_w, frame_h = frame_wh
    left = min(max(0, x), max(0, frame_w - width))
    tops = {"above": y - height, "below": y + h}
    places = []
    for place in LABEL_PLACES:
        top = tops[place]
        fits = 0 <= top and top + height <= frame_h and width <= frame_w
        places.append((left, top) if fits else None)
    return places


def layout_rule(boxes, texts, frame_wh, measure):
    """The placement rule shared with the page (draw.js layoutLabels): `measure(text, size)` -> (width, height) of the
    label rectangle at that LABEL_SIZES fraction. Returns per face {"text", "size", "rect"}; rect (left, top, width,
    height) or None (no room at all: label left out)."""
    placed, layout = [], []
    for i, (box, text) in enumerate(zip(boxes, texts)):
        others = [b for j, b in enumerate(boxes) if j != i]
        choice = None
        for candidate_text in (text, text.split(" ", 1)[0]):  # the full label, then the number alone
            for size in LABEL_SIZES:
                width, height = measure(candidate_text, size)
                for corner in label_candidates(box, (width, height), frame_wh):
                    if corner is None:
                        continue
                    rect = (int(corner[0]), int(corner[1]), int(width), int(height))
                    if not any(overlaps(rect, other) for other in others + placed):
                        choice = {"text": candidate_text, "size": size, "rect": rect}
                        break
                if choice:
                    break
            if choice:
                break
        if choice:
            placed.append(choice["rect"])
        layout.append(choice or {"text": text, "size": None, "rect": None})
    return layout


def label_metrics(text: str, scale: float, thickness: int) -> tuple[int, int, int, int]:
    """(width, height, line height, padding) of the filled label rectangle of `text` (one or more lines)."""
    lines = text.split("\n")
    sizes = [cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness) for line in lines]
    height = max(h for (_, h), _ in sizes)
    line_h = height + max(b for _, b in sizes)
    pad = max(2, thickness * 2)
    return max(w for (w, _), _ in sizes) + 2 * pad, line_h * len(lines) + 2 * pad, line_h, pad


def sized_style(scale: float, thickness: int, size: float) -> tuple[float, int]:
    return scale * size, max(1, int(round(thickness * size)))


def layout_labels(faces: list[dict], frame_shape, track_ids=None) -> list[dict]:
    """Where each face's numbered label goes (LABEL_PLACES, LABEL_SIZES): per face {"text", "size", "rect"}, rect
    (left, top, width, height) in frame pixels, None when left out. No two rectangles overlap and none covers another
    face's box."""
    scale, thickness = text_style(frame_shape)

    def measure(text, size):
        return label_metrics(text, *sized_style(scale, thickness, size))[:2]

    tracks = list(track_ids) if track_ids else [None] * len(faces)
    texts = [face_label(face, number, track) for number, (face, track) in enumerate(zip(faces, tracks), start=1)]
    boxes = [tuple(face["box"]) for face in faces]
    return layout_rule(boxes, texts, (frame_shape[1], frame_shape[0]), measure)


def put_label(image: np.ndarray, text: str, x: int, y: int, color, scale: float, thickness: int, above: bool = True):
    """Text (one or more lines) on a filled box, placed above (x, y) when there is room, else below it; kept inside
    the image."""
    width, box_h, _, _ = label_metrics(text, scale, thickness)
    top = y - box_h if above and y - box_h >= 0 else y
    top = min(max(0, top), max(0, image.shape[0] - box_h))
    left = min(max(0, x), max(0, image.shape[1] - width))
    draw_label(image, text, (left, top), color, scale, thickness)


def draw_label(image: np.ndarray, text: str, corner, color, scale: float, thickness: int):
    """Text (one or more lines) on a filled rectangle whose top-left corner is `corner`."""
    width, box_h, line_h, pad = label_metrics(text, scale, thickness)
    left, top = corner
    cv2.rectangle(image, (left, top), (left + width - 1, top + box_h - 1), color, -1)
    lines = text.split("\n")
    text_h = line_h - max(cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[1] for line in lines)
    for i, line in enumerate(lines):
        baseline_y = top + pad + text_h + i * line_h
        cv2.putText(image, line, (left + pad, baseline_y), cv2.FONT_HERSHEY_SIMPLEX, scale, COLOR_TEXT, thickness,
                    cv2.LINE_AA)


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


def annotate(frame_rgb: np.ndarray, faces: list[dict], has_mask_model: bool = False, note: str | None = None,
             track_ids=None) -> np.ndarray:
    """A copy of the frame with every face's box and label (with its track number when `track_ids` are given), and
    the banner."""
    image = np.ascontiguousarray(frame_rgb).copy()
    scale, thickness = text_style(image.shape)
    for face in faces:
        x, y, w, h = face["box"]
        cv2.rectangle(image, (x, y), (x + w, y + h), face_color(face), thickness + 1)
    # numbered as the apps' tables ("face" column; 1 = the main face), placed so that no label covers another
    for face, label in zip(faces, layout_labels(faces, image.shape, track_ids)):
        if label["rect"]:
            draw_label(image, label["text"], label["rect"][:2], face_color(face),
                       *sized_style(scale, thickness, label["size"]))
    text, color = banner_text(faces, has_mask_model, note)
    if text:
        put_label(image, text, 0, image.shape[0], color, scale, thickness)
    return image
