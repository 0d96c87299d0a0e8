"""Face registration: a crop turned so that the eyes are level (core.preprocess.level_eyes, step 5 of the crop), the
same turn on FER2013's faces for training (train/registration.py), and the pipeline doing it for a model trained so."""

import math

import cv2
import numpy as np

from core.detector import FaceDetector
from core.preprocess import MAX_EYE_ROLL_DEGREES, crop_faces, crop_metadata, eye_roll, level_eyes
from tests.harness import read_rgb, rotate_about


def test_eye_roll_is_the_eye_line_limited_to_the_maximum():
    assert eye_roll([[10, 10], [30, 10]]) == 0.0
    assert math.isclose(math.degrees(eye_roll([[10, 10], [30, 30]])), 45.0)
    assert math.isclose(math.degrees(eye_roll([[10, 10], [20, 30]])), MAX_EYE_ROLL_DEGREES)  # 63 degrees, limited
    assert math.isclose(math.degrees(eye_roll([[10, 10], [30, 0]])), -math.degrees(math.atan2(10, 20)))


def row_centre(pixels) -> float:
    """The row (pixel-centre units, 0 = the first row's centre) at the centre of mass of the pixels' brightness."""
    return float(np.average(np.arange(len(pixels)), weights=pixels.astype(np.float64).sum(axis=1)))


def test_level_eyes_turns_a_drawn_eye_line_level_and_keeps_an_upright_crop():
    crop = np.zeros((48, 48, 1), np.float32)
    roll = math.radians(30)
    centre = 24.0
    eyes = [(centre + s * 10 * math.cos(roll), centre + s * 10 * math.sin(roll)) for s in (-1, 1)]
    for x, y in eyes:
        cv2.circle(crop, (round(x * 16), round(y * 16)), 2 * 16, 255.0, -1, shift=4)
    levelled = level_eyes(crop, eye_roll([list(eyes[0]), list(eyes[1])]))
    rows = [row_centre(levelled[:, half, 0]) for half in (slice(0, 24), slice(24, 48))]
    assert abs(rows[0] - rows[1]) < 0.5 and abs(rows[0] - 23.5) < 1, rows  # both eyes on the middle row
    unturned = [row_centre(crop[:, half, 0]) for half in (slice(0, 24), slice(24, 48))]
    assert abs(unturned[0] - unturned[1]) > 8  # the control: the drawn line was steep
    assert np.array_equal(level_eyes(crop, 0.0), crop)  # no turn: the crop itself


def test_a_tilted_face_gives_the_upright_face_crop(media_dir):
    """The levelled crop of a face turned by 25 degrees (the photo rotated about the box centre, the keypoints with it)
    is the levelled crop of the face as it was, up to resampling; without levelling (the control) it is not."""
    image = read_rgb(media_dir / "happy.jpg")
    detector = FaceDetector()
    face = detector.detect(image)[0]
    x, y, w, h = face.box
    turned, matrix = rotate_about(image, (x + w / 2, y + h / 2), 25, cv2.BORDER_REPLICATE)
    points = [list(matrix @ [px, py, 1.0]) for px, py in face.keypoints]
    upright = crop_faces(image, [face.box], 48, 1, [face.keypoints])[0]
    levelled = crop_faces(turned, [face.box], 48, 1, [points])[0]
    plain = crop_faces(turned, [face.box], 48, 1)[0]
    inner = slice(8, 40)  # the corners were outside the crop before turning
    level_error = np.abs(levelled - upright)[inner, inner].mean()
    plain_error = np.abs(plain - upright)[inner, inner].mean()
    assert level_error < 8 and plain_error > 2.5 * level_error, (level_error, plain_error)


def test_fer2013_faces_come_out_upright(fer_csv):
    from train.data import load_fer2013
    from train.registration import eye_rolls, level_faces

    faces, _, _ = load_fer2013(fer_csv, usage="PublicTest")
    faces = faces[:200]
    before, missed = eye_rolls(faces)
    levelled = level_faces(faces)
    after, _ = eye_rolls(levelled)
    assert levelled.dtype == np.uint8 and levelled.shape == faces.shape
    assert missed < 10
    tilted = np.abs(np.degrees(before)) > 15
    assert tilted.sum() >= 15
    assert np.degrees(np.abs(after[tilted])).mean() < 8 < np.degrees(np.abs(before[tilted])).mean()
    assert np.array_equal(levelled[before == 0], faces[before == 0])  # no face found: left as it was


def test_the_pipeline_levels_the_crops_of_a_model_trained_so(media_dir, tmp_path):
    """A model folder whose metadata says `"level_eyes": true` gets levelled crops from the pipeline; the shipped
    model, trained on FER2013's faces as they are, gets the plain crops (the control)."""
    import json
    import shutil

    from core.model_folder import EMOTION_MODEL_DIR, METADATA_FILE
    from core.pipeline import FacePipeline

    levelled_folder = tmp_path / "emotion"
    shutil.copytree(EMOTION_MODEL_DIR, levelled_folder)
    metadata = json.loads((levelled_folder / METADATA_FILE).read_text())
    metadata["crop"] = crop_metadata(level=True)
    (levelled_folder / METADATA_FILE).write_text(json.dumps(metadata))

    image = read_rgb(media_dir / "sad.jpg")
    face = FaceDetector().detect(image)[0]
    x, y, w, h = face.box
    turned, _ = rotate_about(image, (x + w / 2, y + h / 2), 22, cv2.BORDER_REPLICATE)  # still read (under 30)
    for folder, levels in ((levelled_folder, True), (EMOTION_MODEL_DIR, False)):
        pipeline = FacePipeline(emotion_model=folder)
        model = pipeline.emotion_model
        assert model.levels_eyes is levels
        detection = pipeline.detector.detect(turned)[0]
        scores = pipeline.process(turned).faces[0]["emotion"]["scores"]
        got = np.array([scores[label] for label in model.labels])
        levelled = model.predict_proba(crop_faces(turned, [detection.box], 48, 1, [detection.keypoints]))[0]
        plain = model.predict_proba(crop_faces(turned, [detection.box], 48, 1))[0]
        expected, other = (levelled, plain) if levels else (plain, levelled)
        assert np.abs(got - expected).max() < 2e-3, folder
        assert np.abs(got - other).max() > 0.02, (folder, np.abs(got - other).max())
