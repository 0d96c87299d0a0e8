"""The face check (core.face_check) on the real media photos: it says face for every face the detector finds and no
face for the same box moved onto the body below; its input turns a tilted face upright and is black outside the
frame."""

import math

import numpy as np
import pytest

from core.detector import Detection, FaceDetector
from core.face_check import FACE_CHECK, FaceCheck, face_check_input
from tests.harness import MEDIA_FACES, read_rgb, rotate_about


@pytest.fixture(scope="module")
def check():
    return FaceCheck()


@pytest.fixture(scope="module")
def media_faces(media_dir):
    detector = FaceDetector()
    found = []
    for name in sorted(MEDIA_FACES):
        image = read_rgb(media_dir / name)
        found += [(name, image, detection) for detection in detector.detect(image)]
    assert len(found) == sum(MEDIA_FACES.values())
    return found


def moved(detection: Detection, dx: float, dy: float) -> Detection:
    x, y, w, h = detection.box
    return Detection([x + dx, y + dy, w, h], detection.score, [[px + dx, py + dy] for px, py in detection.keypoints])


def test_every_media_face_is_confirmed(check, media_faces):
    presence = {(name, tuple(d.box)): check.presence(image, d) for name, image, d in media_faces}
    assert all(p >= FACE_CHECK["threshold"] for p in presence.values()), presence


def test_the_box_moved_onto_the_body_is_not_a_face(check, media_faces):
    below = {(name, tuple(d.box)): check.presence(image, moved(d, 0, d.box[3])) for name, image, d in media_faces}
    assert all(p < FACE_CHECK["threshold"] for p in below.values()), below


def test_a_tilted_face_is_turned_upright(media_dir):
    """The input of a face turned by 25 degrees (the image rotated about the box centre, the eye keypoints with it)
    is the input of the upright face, up to the rotation's resampling; with the keypoints left where they were (no
    turn: the control), it is not."""
    image = read_rgb(media_dir / "happy.jpg")
    face = FaceDetector().detect(image)[0]
    x, y, w, h = face.box
    turned, matrix = rotate_about(image, (x + w / 2, y + h / 2), 25)
    points = [list(matrix @ [px, py, 1.0]) for px, py in face.keypoints]
    upright = face_check_input(image, face.box, face.keypoints)
    followed = face_check_input(turned, face.box, points)
    ignored = face_check_input(turned, face.box, face.keypoints)
    centre = slice(40, 152)  # the corners of the turned image hold its black outside
    follow_error = np.abs(followed - upright)[centre, centre].mean()
    ignore_error = np.abs(ignored - upright)[centre, centre].mean()
    assert follow_error < 0.03 and ignore_error > 4 * follow_error, (follow_error, ignore_error)
    angle = math.degrees(math.atan2(points[1][1] - points[0][1], points[1][0] - points[0][0]))
    assert abs(angle - math.degrees(math.atan2(face.keypoints[1][1] - face.keypoints[0][1],
                                               face.keypoints[1][0] - face.keypoints[0][0])) + 25) < 1


def test_input_is_black_outside_the_frame_and_scaled_to_one():
    frame = np.full((100, 100, 3), 255, np.uint8)
    values = face_check_input(frame, [0, 0, 40, 40], [[10, 15], [30, 15]])
    size = FACE_CHECK["input_size"]
    assert values.shape == (size, size, 3) and values.dtype == np.float32
    assert values[0, 0].max() == 0  # the square reaches 10 px beyond the top-left corner: black
    assert np.allclose(values[size // 2, size // 2], 1.0)  # inside: 255 / 255
