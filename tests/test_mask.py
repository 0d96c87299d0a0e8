"""The shipped face-mask model: its record, the evaluate JSON for --task mask, and how it holds on faces outside
the data set's style: the media photos (nobody wears a mask) and the same faces with a mask painted over the lower
face (nose to chin, from the detector's keypoints)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.labels import MASK_LABELS
from core.model_folder import MASK_MODEL_DIR
from tests.harness import REPO

ONE_FACE_PHOTOS = ("obama.jpg", "biden.jpg", "happy.jpg", "surprised.jpg", "angry.jpg", "sad.jpg")
GROUP_PHOTOS = ("two_people.jpg", "bbt1.jpg", "2008_002506.jpg", "obama_and_biden.jpg")
MASK_COLORS_RGB = ((170, 210, 235), (240, 240, 240), (40, 40, 45))  # surgical blue, white, black cloth


@pytest.fixture(scope="module")
def pipeline():
    from core.pipeline import FacePipeline

    return FacePipeline()


def test_shipped_mask_record_describes_the_shipped_files():
    """The record beside the weights is the record of these weights: its network, built by train.networks as the
    command builds it, has the shipped architecture and parameter count; its labels are the model's; its metrics are
    the ones the README quotes (the weights' accuracy itself: test_evaluate_mask_json and the painted-mask tests)."""
    from core.model_folder import load_keras_model
    from train.networks import build_network

    record = json.loads((MASK_MODEL_DIR / "training.json").read_text())
    assert record["command"].startswith("python -m train.train --task mask")
    model, metadata = load_keras_model(MASK_MODEL_DIR)
    size, channels = metadata["input"]["size"], metadata["input"]["channels"]
    built = build_network(record["network"], (size, size, channels), len(MASK_LABELS))
    assert [layer.__class__.__name__ for layer in built.layers] == [layer.__class__.__name__ for layer in model.layers]
    assert built.count_params() == model.count_params() == record["parameters"]
    assert metadata["labels"] == list(MASK_LABELS)
    metrics = record["validation_metrics"]
    assert metrics["accuracy"] >= 0.98 and metrics["n"] == record["validation_images"]
    assert set(metrics["per_class"]) == set(MASK_LABELS)
    assert all(m["recall"] >= 0.95 for m in metrics["per_class"].values())


def test_evaluate_mask_json(facemask_dir, tmp_path):
    for label in MASK_LABELS:
        (tmp_path / label).mkdir()
        for path in sorted((facemask_dir / label).glob("*.jpg"))[:25]:
            shutil.copy(path, tmp_path / label / path.name)
    result = subprocess.run(
        [sys.executable, "-m", "train.evaluate", "--task", "mask", "--model", str(MASK_MODEL_DIR), "--data",
         str(tmp_path), "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["task"] == "mask" and report["n"] == 50
    assert set(report["per_class"]) == set(MASK_LABELS)
    assert np.array(report["confusion"]).shape == (2, 2)
    assert report["accuracy"] >= 0.9


def paint_mask(frame_rgb: np.ndarray, detection, color) -> np.ndarray:
    """A mask-shaped polygon from just below the nose tip to under the chin, across the face width."""
    x, y, w, h = detection.box
    keypoints = dict(zip(("right_eye", "left_eye", "nose_tip", "mouth"), detection.keypoints[:4]))
    nose_y = keypoints["nose_tip"][1]
    top = int(nose_y - 0.08 * h)
    bottom = int(y + 1.05 * h)
    polygon = np.array([
        [x + 0.05 * w, top + 0.05 * h], [x + 0.5 * w, top - 0.04 * h], [x + 0.95 * w, top + 0.05 * h],
        [x + 0.9 * w, bottom - 0.25 * h], [x + 0.5 * w, bottom], [x + 0.1 * w, bottom - 0.25 * h],
    ], dtype=np.int32)
    painted = frame_rgb.copy()
    cv2.fillPoly(painted, [polygon], color)
    return painted


def test_media_faces_are_unmasked_and_painted_masks_are_found(pipeline, media_dir):
    unmasked, unmasked_right, painted_total, painted_found = 0, [], 0, 0
    for name in ONE_FACE_PHOTOS + GROUP_PHOTOS:
        frame = cv2.cvtColor(cv2.imread(str(media_dir / name)), cv2.COLOR_BGR2RGB)
        result = pipeline.process(frame)
        assert result.faces, name
        labels = [face["mask"]["label"] for face in result.faces]
        unmasked += len(labels)
        unmasked_right += [f"{name}: {label}" for label in labels if label == "without_mask"]
        if name not in ONE_FACE_PHOTOS:
            continue
        detection = max(pipeline.detector.detect(frame), key=lambda d: d.box[2] * d.box[3])
        for color in MASK_COLORS_RGB:
            masked = pipeline.process(paint_mask(frame, detection, color))
            painted_total += 1
            if masked.faces:
                largest = max(masked.faces, key=lambda f: f["box"][2] * f["box"][3])
                painted_found += largest["mask"]["label"] == "with_mask"
    # 17 bare faces; at most one may be called masked (seen: the bearded face of bbt1.jpg, with_mask at 0.72).
    assert unmasked >= 17 and len(unmasked_right) >= unmasked - 1, f"{len(unmasked_right)}/{unmasked} bare faces right"
    assert painted_found >= 0.8 * painted_total, f"{painted_found}/{painted_total} painted masks recognised"


def test_evaluate_report_leaves_models_untouched(facemask_dir, tmp_path):
    """Without --json, evaluate writes its confusion PNG under runs/evaluate/ of the working folder, not into models/."""
    data = tmp_path / "data"
    for label in MASK_LABELS:
        (data / label).mkdir(parents=True)
        for path in sorted((facemask_dir / label).glob("*.jpg"))[:10]:
            shutil.copy(path, data / label / path.name)
    models = REPO / "models"
    before = {p: p.stat().st_mtime_ns for p in models.rglob("*")}
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "train.evaluate", "--task", "mask", "--model", str(MASK_MODEL_DIR), "--data", str(data)],
        cwd=work, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    png = work / "runs" / "evaluate" / "mask-confusion.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"confusion matrix: {Path('runs/evaluate/mask-confusion.png')}" in result.stdout
    assert (work / "runs" / "evaluate" / "mask-reliability.png").read_bytes()[:4] == b"\x89PNG"  # beside it
    assert {p: p.stat().st_mtime_ns for p in models.rglob("*")} == before
