"""One frame in, every face labelled out. Shared by the Gradio app, the CLI and the benchmarks.

Follow one webcam frame through `FacePipeline.run`:

1. `to_rgb_frame`: any image array (RGB, RGBA, grayscale, uint8/uint16/float) -> RGB uint8, or a clear `InputError`
   (too small, too large, not an image).
2. Detect: BlazeFace (`core.detector`) on a letterboxed copy (huge photos are shrunk for detection only); for a
   photo (`photo=True`: the CLI's and the apps' images, not video frames) also in overlapping tiles of a large frame,
   where faces can be too small for the shrunk copy. Faces are sorted largest first and at most MAX_FACES
   (MAX_FACES_PHOTO for a photo) are labelled (the result's `note` says so).
3. Crop: `core.preprocess.crop_faces`, exactly the training preprocessing, all faces of the frame in one batch.
4. Expression: `FacialExpressionModel.predict_proba` on that batch (one LiteRT call, never `model.predict`).
5. Mask: `FaceMaskModel.predict_proba` on the same boxes, when a mask model folder exists (else `mask` is None).
   Both with the model's flip TTA (the face and its mirror image), except in smoothed video: there the two views
   alternate from frame to frame (`tta_view`), one pass per face instead of two, and the tracker's average over
   frames mixes them.
6. Track and smooth (video only; smoothing switchable): a `core.tracking.FaceTracker` follows each person from frame
   to frame (its id once seen in a few frames) and averages each tracked face's probabilities (the mask's over a
   longer memory).
7. Judge: a face smaller than MIN_JUDGED_SIDE pixels (its box's shorter side) is too small to judge: no expression,
   no mask label, no alert (`too_small`); a masked face's expression is not readable (FER2013 has no masked face: on
   masked footage the network said "sad" for 91-100 % of the faces), so it gets none (`emotion` None); nor is the
   expression of a head turned beyond what FER2013 shows (`expression_readable`: in profile, or the eyes' line
   tilted more than MAX_READABLE_ROLL_DEGREES), which gets `head_turned` instead: the network read such poses as
   sadness (FER2013 links them with sad labels; a head-pose clip read 95 % sad).
8. Annotate: `core.draw.annotate` draws boxes, labels and the alert banner on a copy of the frame.

Each face of the result has exactly the CLI's JSON shape:
    {"box": [x, y, w, h], "score": detector confidence,
     "emotion": {"label": str, "scores": {label: prob}} | None (masked, head turned or too small),
     "mask": {"label": "with_mask"|"without_mask", "score": p} | None (no mask model, or too small),
     "too_small": bool, "head_turned": bool (unmasked, yet no expression: the head is turned too far to read it)}
and the result carries the time of every stage in milliseconds.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import draw
from core.camera import camera_metadata
from core.detector import DEFAULT_DETECTOR, FaceDetector
from core.labels import MASK_LABELS
from core.model_folder import ARCHITECTURE_FILE, EMOTION_MODEL_DIR, MASK_MODEL_DIR, ModelFileError
from core.models import PROBABILITY_FLOOR, TTA_VIEWS, FaceMaskModel, FacialExpressionModel
from core.preprocess import crop_faces, eye_roll
from core.session import session_metadata
from core.tracking import FaceTracker, in_profile, tracking_metadata
from core.video import VideoWriter, read_frames_ahead

EMOTION_MODEL_ENV = "FACEXP_EMOTION_MODEL"  # folder of the expression model (default models/emotion)
MASK_MODEL_ENV = "FACEXP_MASK_MODEL"  # folder of the mask model (default models/mask; optional)
CLASSIFIER_BACKEND = "litert"  # expression/mask networks run in LiteRT (2.5-4x faster than tf.function here)
MAX_FACES = 20  # faces labelled per video frame, largest first
MAX_FACES_PHOTO = 64  # faces labelled per photo (no frame rate to keep)
MIN_JUDGED_SIDE = 32  # pixels: smaller faces are not labelled (bench/footage.py: mask labels unreliable below; BENCHMARKS.md)
MASKED = MASK_LABELS[0]  # "with_mask": the expression of such a face is not readable
# The expression is read on faces whose eye line is within this many degrees of level and that are not in profile
# (core.tracking.in_profile): 92.6 % of FER2013's PublicTest faces. On the others the network is right 58.9 % of the
# time against 67.7 %, and calls 28.9 % of them sad (FER2013 labels 30.0 % of them so: it learned the pose as sadness);
# on footage it read tilted and turned heads as sad (python -m bench.fer_pose; BENCHMARKS.md, "A turned head's
# expression is not read").
MAX_READABLE_ROLL_DEGREES = 30
MIN_SIDE = 24  # pixels; smaller images cannot hold a detectable face
MAX_PIXELS = 100_000_000  # larger images are refused (decompression bombs); 6000x4000 = 24 MP is fine
SCORE_DECIMALS = 4
MAX_FACES_NOTE = "{found} faces found; the {labelled} largest are labelled"  # the result's note beyond MAX_FACES
EXIT_NO_MODELS = 2  # exit status of the apps when the models cannot be loaded

log = logging.getLogger("facexp.pipeline")


class InputError(ValueError):
    """An input that is not a usable image, with a message meant for the user."""


def emotion_model_dir() -> Path:
    return Path(os.environ.get(EMOTION_MODEL_ENV) or EMOTION_MODEL_DIR)


def mask_model_dir() -> Path:
    return Path(os.environ.get(MASK_MODEL_ENV) or MASK_MODEL_DIR)


def to_rgb_frame(image) -> np.ndarray:
    """Any image array -> contiguous RGB uint8 (H, W, 3), or `InputError` saying what is wrong."""
    if image is None:
        raise InputError("no image was given")
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected an image array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (2, 3, 4)):
        raise InputError(f"not an image: array of shape {image.shape}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"the image is only {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} are needed to find a face")
    if height * width > MAX_PIXELS:
        raise InputError(f"the image is {width}x{height} pixels; at most {MAX_PIXELS // 1_000_000} megapixels are accepted")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        top = 1.0 if np.nanmax(image) <= 1.0 else 255.0
        image = np.clip(np.nan_to_num(image) * (255.0 / top), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] == 2:  # gray + alpha
        image = np.repeat(image[..., :1], 3, axis=2)
    elif image.shape[2] == 4:  # RGBA: the alpha channel is dropped
        image = image[..., :3]
    return np.ascontiguousarray(image)


@dataclass
class FrameResult:
    """What the pipeline found in one frame."""

    faces: list[dict]  # each in the CLI JSON shape (see the module docstring)
    timings_ms: dict[str, float]  # per stage: detect, crop, emotion, mask, smooth, (draw), total
    faces_found: int  # faces detected before the MAX_FACES cap
    note: str | None = None  # e.g. that only the largest faces were labelled
    track_ids: list[int | None] = field(default_factory=list)  # per face with a tracker (None: not confirmed yet)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU time of each stage (= its latency on an idle core)

    def track_text(self, face: int) -> int | str:
        """The track id of face `face` for a table cell: "" without a tracker or while its track is not confirmed."""
        track = self.track_ids[face] if self.track_ids else None
        return "" if track is None else track


def pipeline_metadata() -> dict:
    """The constants the browser's pipeline (web_static/js/pipeline.js) shares with this one; the exporter writes
    them into web_static/models/index.json ("pipeline")."""
    return {
        "max_faces": MAX_FACES,
        "max_faces_photo": MAX_FACES_PHOTO,
        "min_judged_side": MIN_JUDGED_SIDE,
        "masked_label": MASKED,
        "max_readable_roll_degrees": MAX_READABLE_ROLL_DEGREES,
        "min_side": MIN_SIDE,
        "max_pixels": MAX_PIXELS,
        "score_decimals": SCORE_DECIMALS,
        "probability_floor": PROBABILITY_FLOOR,
        "max_faces_note": MAX_FACES_NOTE,
        "drawing": draw.drawing_metadata(),
        "tracking": tracking_metadata(),
        "tta_views": list(TTA_VIEWS),  # smoothed video: one view per frame, in this order (tta_view)
        "session": session_metadata(),
        "camera": camera_metadata(),
    }


def expression_readable(keypoints) -> bool:
    """Whether a face's pose lets the expression network read it (step 7): not in profile, and its eye line within
    MAX_READABLE_ROLL_DEGREES of level (BlazeFace's keypoints). web_static/js/pipeline.js, `expressionReadable`."""
    return not in_profile(keypoints) and abs(eye_roll(keypoints)) <= math.radians(MAX_READABLE_ROLL_DEGREES)


def tta_view(tracker: FaceTracker | None, alternate: bool = True) -> str | None:
    """Which TTA view the classifiers run on this frame: both (None) for a single image, unsmoothed video or with
    alternate=False; in smoothed video "original" and "mirrored" on alternate frames. Over two frames every face gets
    both views at the cost of one, and the tracker's moving average mixes them as flip TTA mixes them within a frame
    (bench/temporal_tta.py compares the shown labels with both views on every frame)."""
    if not alternate or tracker is None or tracker.smoothing <= 0:
        return None
    return TTA_VIEWS[tracker.frames % len(TTA_VIEWS)]


def scores_dict(labels, probabilities) -> dict[str, float]:
    return {label: round(float(p), SCORE_DECIMALS) for label, p in zip(labels, probabilities)}


class FacePipeline:
    """Detector + expression model + optional mask model. `run(frame)` -> (annotated frame, FrameResult)."""

    def __init__(self, emotion_model: str | Path | None = None, mask_model: str | Path | None = None,
                 detector: str = DEFAULT_DETECTOR, max_faces: int = MAX_FACES, backend: str = CLASSIFIER_BACKEND,
                 alternate_tta: bool = True, min_judged_side: int = MIN_JUDGED_SIDE,
                 max_faces_photo: int = MAX_FACES_PHOTO):
        self.detector = FaceDetector(detector)
        self.emotion_model = FacialExpressionModel(emotion_model or emotion_model_dir(), backend)
        mask_folder = Path(mask_model or mask_model_dir())
        if (mask_folder / ARCHITECTURE_FILE).is_file():
            self.mask_model = FaceMaskModel(mask_folder, backend)
        else:
            self.mask_model = None
            log.info("no mask model at %s: faces get mask = null", mask_folder)
        self.max_faces = max_faces
        self.max_faces_photo = max_faces_photo
        self.min_judged_side = min_judged_side  # smaller faces are not labelled (measuring: bench/footage.py)
        self.alternate_tta = alternate_tta  # smoothed video: one TTA view per frame (see tta_view)
        self._lock = threading.Lock()  # the LiteRT interpreter is not thread-safe; one frame at a time

    @property
    def has_mask_model(self) -> bool:
        return self.mask_model is not None

    def process(self, image, tracker: FaceTracker | None = None, photo: bool = False) -> FrameResult:
        """Detect, crop, classify (and smooth, with a tracker) every face of one image; `photo`: a still image (tiled
        detection of a large frame, MAX_FACES_PHOTO)."""
        with self._lock:
            return self._process(image, tracker, photo)

    def _process(self, image, tracker: FaceTracker | None, photo: bool = False) -> FrameResult:
        timings: dict[str, float] = {}
        cpu: dict[str, float] = {}
        start = clock = time.perf_counter()
        cpu_start = cpu_clock = time.thread_time()

        def lap(stage: str) -> None:
            nonlocal clock, cpu_clock
            now, cpu_now = time.perf_counter(), time.thread_time()
            timings[stage] = round((now - clock) * 1000, 3)
            cpu[stage] = round((cpu_now - cpu_clock) * 1000, 3)
            clock, cpu_clock = now, cpu_now

        # 1. a valid RGB frame
        frame = to_rgb_frame(image)

        # 2. faces, largest first, at most max_faces (max_faces_photo)
        detections = self.detector.detect_tiled(frame) if photo else self.detector.detect(frame)
        detections.sort(key=lambda d: d.box[2] * d.box[3], reverse=True)
        faces_found = len(detections)
        detections = detections[: self.max_faces_photo if photo else self.max_faces]
        boxes = [d.box for d in detections]
        lap("detect")

        # 3. crops exactly as in training, one batch per model
        emotion_crops = crop_faces(frame, boxes, self.emotion_model.size, self.emotion_model.channels,
                                   [d.keypoints for d in detections] if self.emotion_model.levels_eyes else None)
        mask_crops = None
        if self.mask_model is not None:
            mask_crops = crop_faces(frame, boxes, self.mask_model.size, self.mask_model.channels)
        lap("crop")

        # 4. expression probabilities of all faces in one call (in smoothed video one TTA view per frame)
        view = tta_view(tracker, self.alternate_tta)
        emotion_probs = self.emotion_model.predict_proba(emotion_crops, view=view)
        lap("emotion")

        # 5. mask probabilities (None without a mask model)
        mask_probs = self.mask_model.predict_proba(mask_crops, view=view) if self.mask_model is not None else None
        lap("mask")

        # 6. tracking and smoothing over time (video)
        track_ids: list[int | None] = []
        if tracker is not None:
            track_ids, emotion_probs, mask_probs = tracker.update(boxes, emotion_probs, mask_probs,
                                                                  [d.score for d in detections],
                                                                  [in_profile(d.keypoints) for d in detections])
        lap("smooth")

        # 7. what can be said of each face
        faces = []
        emotion_labels = self.emotion_model.labels
        for i, detection in enumerate(detections):
            face = {"box": [int(v) for v in detection.box], "score": round(float(detection.score), SCORE_DECIMALS),
                    "emotion": None, "mask": None, "too_small": min(detection.box[2:]) < self.min_judged_side,
                    "head_turned": False}
            faces.append(face)
            if face["too_small"]:
                continue
            if mask_probs is not None:
                mask_best = int(np.argmax(mask_probs[i]))
                face["mask"] = {"label": self.mask_model.labels[mask_best],
                                "score": round(float(mask_probs[i][mask_best]), SCORE_DECIMALS)}
            if face["mask"] is not None and face["mask"]["label"] == MASKED:
                continue  # the expression of a masked face is not readable
            if not expression_readable(detection.keypoints):
                face["head_turned"] = True
            else:
                best = int(np.argmax(emotion_probs[i]))
                face["emotion"] = {"label": emotion_labels[best], "scores": scores_dict(emotion_labels, emotion_probs[i])}
        note = None
        if faces_found > len(faces):
            note = MAX_FACES_NOTE.format(found=faces_found, labelled=len(faces))
        timings["total"] = round((time.perf_counter() - start) * 1000, 3)
        cpu["total"] = round((time.thread_time() - cpu_start) * 1000, 3)
        return FrameResult(faces, timings, faces_found, note, track_ids, cpu)

    def annotate(self, image, result: FrameResult) -> np.ndarray:
        """8. The frame with boxes, labels and the banner drawn (adds the "draw" time to the result)."""
        start, cpu_start = time.perf_counter(), time.thread_time()
        annotated = draw.annotate(to_rgb_frame(image), result.faces, self.has_mask_model, result.note,
                                  result.track_ids)
        result.timings_ms["draw"] = round((time.perf_counter() - start) * 1000, 3)
        result.cpu_ms["draw"] = round((time.thread_time() - cpu_start) * 1000, 3)
        return annotated

    def run(self, image, tracker: FaceTracker | None = None, photo: bool = False) -> tuple[np.ndarray, FrameResult]:
        """process + annotate: one frame from the camera to the annotated image. The frame is made a contiguous RGB
        uint8 array here; process and annotate pass it through `to_rgb_frame` again, which checks its shape and finds
        nothing to convert or copy (a copy, e.g. of a mirrored view frame[:, ::-1], costs about 2.6 ms at 640x480)."""
        frame = to_rgb_frame(image)
        result = self.process(frame, tracker, photo)
        return self.annotate(frame, result), result

    def run_video(self, path, tracker: FaceTracker | None = None, writer: VideoWriter | None = None,
                  max_frames: int | None = None, start: int = 0):
        """Every frame of a video file (from `start`, before `max_frames`): yields (frame index, FrameResult); with a
        writer, each annotated frame is written to it (without one, nothing is drawn). Decoding (`read_frames_ahead`)
        and encoding (the writer) run in threads of their own, beside the analysis."""
        for index, frame in read_frames_ahead(path, max_frames, start):
            if writer is not None:
                annotated, result = self.run(frame, tracker)
                writer.write(annotated)
            else:
                result = self.process(frame, tracker)
            yield index, result


def load_pipeline(emotion_model: str | Path | None = None, mask_model: str | Path | None = None) -> FacePipeline | None:
    """The pipeline, or None after saying on stderr why the models cannot be loaded (the apps then exit with
    EXIT_NO_MODELS)."""
    try:
        return FacePipeline(emotion_model, mask_model)
    except (ModelFileError, FileNotFoundError) as error:
        print(f"error: cannot load the models: {error}", file=sys.stderr)
        return None
