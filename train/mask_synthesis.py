"""Face masks drawn onto bare faces from BlazeFace's keypoints, and hard negatives (a collar or scarf under the chin).

Why: the face-mask folder's masked and bare photos are mostly different people, pictures and framings, so a network can
separate them by cues other than a covered mouth (on real footage the first mask model called a bearded man, scarves,
collars and heads tilted down `with_mask`). The same bare face with and without a drawn mask differs only where a mask
is; a collar or scarf below a visible mouth stays `without_mask`.

Geometry, in the photo's pixels, from the keypoints of `core.detector` (right eye, left eye, nose tip, mouth, ears):
`across` is the unit vector from the right eye to the left, `down` the perpendicular towards the mouth. The mask's top
edge lies between the eyes and the nose tip (the nose bridge), its sides near the ears, its bottom below the chin
(mouth + 1.6-2.3 x the nose-to-mouth distance); the bottom is a half ellipse, the top a flat curve raised over the
nose. Shapes (surgical, cloth, N95), colours, pleats, patterns, straps and shading are drawn at random, seeded.
"""

from __future__ import annotations

import cv2
import numpy as np

SURGICAL_COLOURS = [(168, 200, 226), (190, 215, 235), (235, 238, 240), (120, 170, 210), (200, 225, 210)]
CLOTH_COLOURS = [(25, 25, 28), (60, 60, 65), (40, 60, 110), (150, 30, 40), (230, 230, 230), (200, 160, 170),
                 (70, 100, 60), (120, 90, 60), (200, 180, 140)]
N95_COLOURS = [(240, 240, 236), (225, 225, 220), (250, 250, 250)]
COLLAR_COLOURS = CLOTH_COLOURS + [(150, 20, 20), (20, 80, 160), (230, 200, 60)]
SHAPES = ("surgical", "cloth", "n95")


def face_frame(keypoints) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """(eyes' midpoint, across, down, eye distance, nose tip, mouth) of a face's keypoints."""
    points = np.asarray(keypoints, np.float64)
    right_eye, left_eye, nose, mouth = points[0], points[1], points[2], points[3]
    eyes = (right_eye + left_eye) / 2
    across = left_eye - right_eye
    distance = float(np.hypot(*across)) or 1.0
    across = across / distance
    down = np.array([-across[1], across[0]])
    if np.dot(mouth - eyes, down) < 0:
        down = -down
    return eyes, across, down, distance, nose, mouth


def mask_polygon(keypoints, rng: np.random.Generator, shape: str) -> np.ndarray:
    """The outline of a mask on this face, (N, 2) float pixels."""
    eyes, across, down, distance, nose, mouth = face_frame(keypoints)
    nose_depth = max(np.dot(nose - eyes, down), 0.3 * distance)
    mouth_depth = max(np.dot(mouth - eyes, down), nose_depth + 0.2 * distance)
    top = eyes + down * nose_depth * rng.uniform(0.35, 0.6)
    bottom_depth = mouth_depth + (mouth_depth - nose_depth) * rng.uniform(1.6, 2.3)
    half_top = distance * rng.uniform(0.95, 1.2)
    half_bottom = half_top * (rng.uniform(0.75, 0.95) if shape != "n95" else rng.uniform(0.6, 0.75))
    side_depth = nose_depth + (mouth_depth - nose_depth) * rng.uniform(0.6, 1.2)
    outline = []
    # top edge, right to left, raised over the nose
    for t in np.linspace(-1, 1, 9):
        lift = (1 - t * t) * nose_depth * rng.uniform(0.05, 0.15) if shape != "surgical" else 0.0
        outline.append(top + across * half_top * t - down * lift)
    # left side down to where the chin curve starts, then a half ellipse under the chin back to the right side
    left_side = eyes + across * half_top + down * side_depth
    outline.append(left_side)
    centre = eyes + down * side_depth
    radius_down = bottom_depth - side_depth
    for angle in np.linspace(0, np.pi, 15):
        width = half_top + (half_bottom - half_top) * np.sin(angle)
        outline.append(centre + across * width * np.cos(angle) + down * radius_down * np.sin(angle))
    outline.append(eyes - across * half_top + down * side_depth)
    return np.asarray(outline)


def _shade(image: np.ndarray, region: np.ndarray, colour, rng: np.random.Generator, blur: float) -> np.ndarray:
    """The colour with the photo's own light on it (brighter where the photo is bright, blurred by `blur` pixels so
    that no feature under the mask shows through) and fine texture noise."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), max(1.0, blur))
    inside = grey[region]
    light = grey / max(float(inside.mean()) if inside.size else 128.0, 1.0)
    light = 1.0 + (light - 1.0) * rng.uniform(0.3, 0.7)
    fill = np.asarray(colour, np.float32)[None, None, :] * light[..., None]
    fill += rng.normal(0, rng.uniform(2, 10), fill.shape[:2])[..., None]
    return fill


def draw_mask(image_rgb: np.ndarray, keypoints, rng: np.random.Generator, shape: str | None = None) -> np.ndarray:
    """A copy of the photo with a mask drawn over the nose and mouth of the face with these keypoints."""
    shape = shape or SHAPES[rng.integers(len(SHAPES))]
    palette = {"surgical": SURGICAL_COLOURS, "cloth": CLOTH_COLOURS, "n95": N95_COLOURS}[shape]
    colour = np.asarray(palette[rng.integers(len(palette))], np.float32) * rng.uniform(0.85, 1.1)
    polygon = mask_polygon(keypoints, rng, shape)
    height, width = image_rgb.shape[:2]
    region_u8 = np.zeros((height, width), np.uint8)
    cv2.fillPoly(region_u8, [np.round(polygon * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
    region = region_u8 > 127
    eyes, across, down, distance, _, _ = face_frame(keypoints)
    fill = _shade(image_rgb, region, colour, rng, 0.5 * distance)
    if shape == "surgical":  # pleats: darker lines across the mask
        for k in range(3):
            a = eyes + down * distance * (0.75 + 0.3 * k) - across * distance * 1.3
            b = eyes + down * distance * (0.75 + 0.3 * k) + across * distance * 1.3
            line = np.zeros((height, width), np.uint8)
            cv2.line(line, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 255,
                     max(1, int(distance * 0.04)), cv2.LINE_AA)
            fill[line > 0] *= 0.82
    elif shape == "cloth" and rng.random() < 0.4:  # a pattern: stripes or checks in a second colour
        second = np.asarray(CLOTH_COLOURS[rng.integers(len(CLOTH_COLOURS))], np.float32)
        period = max(2, int(distance * rng.uniform(0.12, 0.3)))
        ys, xs = np.mgrid[0:height, 0:width]
        pattern = ((xs // period) + (ys // period if rng.random() < 0.5 else 0)) % 2 == 1
        fill[pattern] = fill[pattern] * 0.4 + second * 0.6
    elif shape == "n95":  # the moulded ridge down the middle
        a, b = eyes + down * distance * 0.6, eyes + down * distance * 2.2
        line = np.zeros((height, width), np.uint8)
        cv2.line(line, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 255,
                 max(1, int(distance * 0.05)), cv2.LINE_AA)
        fill[line > 0] *= 0.85
    alpha = cv2.GaussianBlur(region_u8.astype(np.float32) / 255.0, (3, 3), 0)[..., None] * rng.uniform(0.9, 1.0)
    out = image_rgb.astype(np.float32) * (1 - alpha) + fill * alpha
    if rng.random() < 0.6:  # straps from the mask's sides towards the ears
        strap = tuple(int(v) for v in np.clip(colour * 0.95, 0, 255))
        for sign in (-1, 1):
            start = eyes + across * sign * distance * 1.05 + down * distance * 0.7
            end = eyes + across * sign * distance * 1.3 + down * distance * 0.35
            cv2.line(out, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)), strap,
                     max(1, int(distance * 0.05)), cv2.LINE_AA)
    return np.clip(out, 0, 255).astype(np.uint8)


def draw_collar(image_rgb: np.ndarray, keypoints, rng: np.random.Generator) -> np.ndarray:
    """A copy of the photo with a collar, scarf or turtleneck under the chin: the mouth stays visible (a hard
    negative: `without_mask`)."""
    eyes, across, down, distance, nose, mouth = face_frame(keypoints)
    mouth_depth = max(np.dot(mouth - eyes, down), 0.8 * distance)
    nose_depth = max(np.dot(nose - eyes, down), 0.3 * distance)
    chin_depth = mouth_depth + (mouth_depth - nose_depth) * rng.uniform(1.4, 2.0)
    top = chin_depth + distance * rng.uniform(0.0, 0.25)
    half = distance * rng.uniform(1.0, 1.8)
    polygon = np.asarray([eyes - across * half + down * top, eyes + across * half + down * top,
                          eyes + across * half * 1.6 + down * (top + 4 * distance),
                          eyes - across * half * 1.6 + down * (top + 4 * distance)])
    height, width = image_rgb.shape[:2]
    region_u8 = np.zeros((height, width), np.uint8)
    cv2.fillPoly(region_u8, [np.round(polygon).astype(np.int32)], 255, cv2.LINE_AA)
    colour = np.asarray(COLLAR_COLOURS[rng.integers(len(COLLAR_COLOURS))], np.float32) * rng.uniform(0.8, 1.1)
    fill = _shade(image_rgb, region_u8 > 127, colour, rng, 0.5 * distance)
    alpha = region_u8.astype(np.float32)[..., None] / 255.0
    out = image_rgb.astype(np.float32) * (1 - alpha) + fill * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def tint(grey_rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A grey photo given a random skin-like colour (FER2013 is grey: colour must not tell bare from masked)."""
    gains = np.array([rng.uniform(1.0, 1.2), rng.uniform(0.85, 1.0), rng.uniform(0.65, 0.95)], np.float32)
    return np.clip(grey_rgb.astype(np.float32) * gains, 0, 255).astype(np.uint8)
