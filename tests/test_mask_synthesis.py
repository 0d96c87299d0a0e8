"""Drawn masks and hard negatives (train/mask_synthesis.py) and the mask task's crops (train/mask_data.py), on the
real media photos and the detector's real keypoints."""

from __future__ import annotations

import numpy as np
import pytest

from tests.harness import read_rgb


@pytest.fixture(scope="module")
def detector():
    from core.detector import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="module")
def face(media_dir, detector):
    image = read_rgb(media_dir / "obama.jpg")
    return image, detector.detect(image)[0]


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 8


def region_changed(diff: np.ndarray, point, radius: int) -> float:
    x, y = int(point[0]), int(point[1])
    return float(diff[y - radius : y + radius, x - radius : x + radius].mean())


@pytest.mark.parametrize("shape", ["surgical", "cloth", "n95"])
def test_a_drawn_mask_covers_nose_tip_and_mouth_and_leaves_the_eyes(face, shape):
    from train.mask_synthesis import draw_mask

    image, detection = face
    masked = draw_mask(image, detection.keypoints, np.random.default_rng(0), shape)
    assert masked.shape == image.shape and masked.dtype == np.uint8
    diff = changed(image, masked)
    right_eye, left_eye, nose, mouth = detection.keypoints[:4]
    radius = max(3, int(0.1 * detection.box[2]))
    assert region_changed(diff, mouth, radius) > 0.9
    assert region_changed(diff, nose, radius) > 0.9
    eye = max(2, radius // 3)  # the eyes themselves stay visible (the mask's top edge is below them)
    assert region_changed(diff, right_eye, eye) == 0 and region_changed(diff, left_eye, eye) == 0
    eye_line = int(min(right_eye[1], left_eye[1]))
    assert not diff[: eye_line - radius].any()  # nothing above the eyes


def test_a_collar_leaves_the_mouth_visible(face):
    from train.mask_synthesis import draw_collar

    image, detection = face
    collared = draw_collar(image, detection.keypoints, np.random.default_rng(0))
    diff = changed(image, collared)
    _, _, nose, mouth = detection.keypoints[:4]
    radius = max(3, int(0.1 * detection.box[2]))
    assert region_changed(diff, mouth, radius) == 0 and region_changed(diff, nose, radius) == 0
    below_chin = int(detection.box[1] + detection.box[3] * 1.1)
    assert diff[below_chin:].mean() > 0.2  # the collar is there, under the face


def test_drawing_is_seeded(face):
    from train.mask_synthesis import draw_mask

    image, detection = face
    one = draw_mask(image, detection.keypoints, np.random.default_rng(7))
    two = draw_mask(image, detection.keypoints, np.random.default_rng(7))
    three = draw_mask(image, detection.keypoints, np.random.default_rng(8))
    assert np.array_equal(one, two) and not np.array_equal(one, three)


def test_tint_gives_a_grey_face_colour():
    from train.mask_synthesis import tint

    grey = np.repeat(np.linspace(0, 255, 48 * 48).reshape(48, 48, 1).astype(np.uint8), 3, axis=2)
    tinted = tint(grey, np.random.default_rng(0)).astype(int)
    assert tinted.shape == grey.shape
    assert (tinted[..., 0] >= tinted[..., 2]).all() and (tinted[..., 0] - tinted[..., 2]).max() > 20


def test_fer_examples_are_app_crops_with_both_labels(tiny_csv, detector):
    from core.labels import MASK_LABELS
    from train.data import load_fer2013
    from train.mask_data import fer_examples

    faces, _, _ = load_fer2013(tiny_csv, usage="Training")
    crops, labels, counts = fer_examples(faces[:40], 64, seed=1, detector=detector)
    assert crops.shape[1:] == (64, 64, 3) and crops.dtype == np.uint8
    assert counts["fer_faces"] == 40 and counts["fer_face_found"] >= 30  # the detector finds enlarged FER faces
    assert (labels == MASK_LABELS.index("without_mask")).sum() == 40
    assert (labels == MASK_LABELS.index("with_mask")).sum() == counts["fer_masks_drawn"] > 5
    assert not np.allclose(crops[..., 0], crops[..., 2])  # tinted, not grey


def test_folder_crops_are_the_apps_crops(facemask_dir, detector):
    from core.preprocess import crop_face
    from train.mask_data import app_crops
    from train.mask_data import read_rgb as read_photo

    paths = sorted((facemask_dir / "without_mask").glob("*.jpg"))[:6]
    whole = np.zeros((len(paths), 64, 64, 3), np.uint8)
    found = 0
    for i, image, face, crop in app_crops(paths, whole, 64, detector):
        if face is None:
            assert crop is whole[i]
            continue
        found += 1
        expected = crop_face(read_photo(paths[i]), face.box, 64, 3)
        assert np.abs(crop.astype(float) - expected).max() <= 0.5
    assert found >= 5
