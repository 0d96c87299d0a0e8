"""The face pipeline (core.pipeline) with the real expression model on the real media photos, its input checks,
tracking/smoothing (core.tracking) and drawing (core.draw)."""

import numpy as np
import pytest

from core import draw
from core.labels import EMOTIONS
from core.model_folder import ARCHITECTURE_FILE
from core.pipeline import MAX_FACES, FacePipeline, InputError, emotion_model_dir
from core.tracking import MAX_MISSED_FRAMES, SMOOTHING, FaceTracker
from tests.harness import MEDIA_FACES, read_rgb, require

FACE_KEYS = {"box", "score", "emotion", "mask", "too_small", "head_turned"}


@pytest.fixture(scope="module")
def pipeline():
    folder = emotion_model_dir()
    require(folder / ARCHITECTURE_FILE, "expression model (train it: python -m train.train --task emotion)")
    return FacePipeline(folder)


def tile_faces(face_rgb, rows: int, cols: int) -> np.ndarray:
    return np.concatenate([np.concatenate([face_rgb] * cols, axis=1)] * rows, axis=0)


@pytest.mark.parametrize("name", ["two_people.jpg", "bbt1.jpg", "2008_002506.jpg", "obama_and_biden.jpg"])
def test_labels_every_face_of_the_media_photos(pipeline, media_dir, name):
    result = pipeline.process(read_rgb(media_dir / name))
    assert len(result.faces) == MEDIA_FACES[name] == result.faces_found
    areas = [face["box"][2] * face["box"][3] for face in result.faces]
    assert areas == sorted(areas, reverse=True)  # largest first
    for face in result.faces:
        assert set(face) == FACE_KEYS
        assert face["too_small"] is False and face["mask"]["label"] == "without_mask"  # nobody there wears a mask
        assert face["head_turned"] is False
        assert set(face["emotion"]) == {"label", "scores"}
        assert list(face["emotion"]["scores"]) == list(EMOTIONS)
        assert abs(sum(face["emotion"]["scores"].values()) - 1) < 1e-3
        assert face["emotion"]["label"] == max(face["emotion"]["scores"], key=face["emotion"]["scores"].get)
        if not pipeline.has_mask_model:
            assert face["mask"] is None
    assert set(result.timings_ms) >= {"detect", "crop", "emotion", "mask", "total"}


@pytest.mark.parametrize("name, expected", [("happy.jpg", "happy"), ("surprised.jpg", "surprise")])
def test_happy_and_surprised_photos_are_labelled_right(pipeline, media_dir, name, expected):
    faces = pipeline.process(read_rgb(media_dir / name)).faces
    assert len(faces) == 1
    assert faces[0]["emotion"]["label"] == expected, faces[0]["emotion"]["scores"]


def test_rgba_grayscale_and_huge_images_give_the_same_face(pipeline, media_dir):
    import cv2

    rgb = read_rgb(media_dir / "happy.jpg")
    reference = pipeline.process(rgb).faces[0]
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert pipeline.process(rgba).faces[0]["box"] == reference["box"]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert len(pipeline.process(gray).faces) == 1
    scale = 6000 / rgb.shape[1]  # 12x, into a 6000x4000 canvas
    huge = np.zeros((4000, 6000, 3), np.uint8)
    enlarged = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    huge[: enlarged.shape[0], : enlarged.shape[1]] = enlarged
    faces = pipeline.process(huge).faces
    assert len(faces) == 1
    x, y, w, h = faces[0]["box"]
    assert abs(x / scale - reference["box"][0]) < 8 and abs(w / scale - reference["box"][2]) < 8


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 1, 3), np.uint8), "1x1"),
    (np.zeros((10, 4), np.uint8), "4x10"),  # width x height
    (np.zeros((64, 64, 7), np.uint8), "not an image"),
    ("not an image", "expected an image array"),
    (None, "no image"),
])
def test_bad_inputs_raise_a_clear_input_error(pipeline, bad, message):
    with pytest.raises(InputError, match=message):
        pipeline.process(bad)


def test_a_frame_with_30_faces_labels_the_largest_and_says_so(pipeline, media_dir):
    import cv2

    face = read_rgb(media_dir / "2008_002506.jpg")[40:200, 200:340]  # the middle person's face, with margin
    crowd = tile_faces(cv2.resize(face, (128, 146)), rows=5, cols=6)
    result = pipeline.process(crowd)
    assert result.faces_found > MAX_FACES, result.faces_found
    assert len(result.faces) == MAX_FACES and f"the {MAX_FACES} largest" in result.note
    annotated, _ = pipeline.run(crowd)
    assert annotated.shape == crowd.shape


def test_tracker_keeps_ids_and_averages_probabilities(pipeline, media_dir):
    """Smoothed video: each frame runs one TTA view (the face, then its mirror image), and the tracker's moving
    average mixes them."""
    from core.preprocess import crop_faces

    frame = read_rgb(media_dir / "two_people.jpg")
    darker = (frame * 0.6).astype(np.uint8)  # same boxes, different probabilities
    model = pipeline.emotion_model

    def one_view(image, view):
        boxes = [face["box"] for face in pipeline.process(image).faces]
        return model.predict_proba(crop_faces(image, boxes, model.size, model.channels), view=view)

    raw_first, raw_second = one_view(frame, "original"), one_view(darker, "mirrored")
    tracker = FaceTracker(min_track_frames=1)  # ids from the first frame (by default a track is confirmed later)
    first = pipeline.process(frame, tracker)
    second = pipeline.process(darker, tracker)
    assert first.track_ids == second.track_ids and len(set(first.track_ids)) == 2
    unconfirmed = pipeline.process(frame, FaceTracker())  # by default: no id in a track's first frames
    assert unconfirmed.track_ids == [None, None] and unconfirmed.track_text(0) == "" and first.track_text(1) == 2
    for i in range(2):
        expected = SMOOTHING * raw_first[i] + (1 - SMOOTHING) * raw_second[i]
        got = np.array([second.faces[i]["emotion"]["scores"][label] for label in EMOTIONS])
        np.testing.assert_allclose(got, expected, atol=2e-3)
    unsmoothed = FaceTracker(smoothing=0.0)  # no average over frames: both views on every frame
    full_tta = pipeline.process(frame).faces
    assert [face["emotion"] for face in pipeline.process(frame, unsmoothed).faces] == [face["emotion"] for face in full_tta]
    third = pipeline.process(np.zeros_like(frame), tracker)  # faces gone: the tracks age out
    assert third.faces == [] and len(tracker.tracks) == 2
    for _ in range(MAX_MISSED_FRAMES):
        pipeline.process(np.zeros_like(frame), tracker)
    assert tracker.tracks == []


def test_litert_backend_gives_the_keras_probabilities(pipeline, media_dir):
    from core.models import FacialExpressionModel
    from core.preprocess import crop_faces

    assert pipeline.emotion_model.backend == "litert"
    frame = read_rgb(media_dir / "bbt1.jpg")
    boxes = [face["box"] for face in pipeline.process(frame).faces]
    crops = crop_faces(frame, boxes, pipeline.emotion_model.size, pipeline.emotion_model.channels)
    keras_model = FacialExpressionModel(pipeline.emotion_model.folder, backend="tensorflow")
    np.testing.assert_allclose(pipeline.emotion_model.predict_proba(crops), keras_model.predict_proba(crops), atol=1e-4)


def fake_face(box, mask_label=None, too_small=False):
    scores = {label: 0.0 for label in EMOTIONS} | {"happy": 0.9, "neutral": 0.1}
    mask = None if mask_label is None or too_small else {"label": mask_label, "score": 0.97}
    emotion = None if mask_label == "with_mask" or too_small else {"label": "happy", "scores": scores}
    return {"box": box, "score": 0.9, "emotion": emotion, "mask": mask, "too_small": too_small, "head_turned": False}


def test_drawing_colours_by_mask_status_hides_masked_expressions_and_skips_small_faces():
    frame = np.zeros((480, 640, 3), np.uint8)
    faces = [fake_face([50, 100, 120, 120], "with_mask"), fake_face([300, 100, 120, 120], "without_mask"),
             fake_face([500, 100, 20, 20], "without_mask", too_small=True)]
    image = draw.annotate(frame, faces, has_mask_model=True)
    assert tuple(image[160, 50]) == draw.COLOR_WITH_MASK  # left edge of the first box
    assert tuple(image[160, 300]) == draw.COLOR_WITHOUT_MASK
    assert tuple(image[110, 500]) == draw.COLOR_TOO_SMALL
    assert draw.face_label(faces[0]) == f"{draw.HIDDEN_EXPRESSION_TEXT}\n{draw.MASK_TEXT} 97%"
    assert draw.face_label(faces[1]) == f"happy 90%\n{draw.NO_MASK_TEXT} 97%"
    assert draw.face_label(faces[2]) == draw.TOO_SMALL_TEXT
    text, color = draw.banner_text(faces, True, None)
    assert "1 face without mask" in text and color == draw.COLOR_BANNER_ALERT  # the small face is not counted
    plain = draw.annotate(frame, [fake_face([50, 100, 120, 120])])
    assert tuple(plain[160, 50]) == draw.COLOR_NO_MASK_MODEL
    assert frame.max() == 0  # the input frame is not drawn on


def test_text_grows_with_the_frame():
    small, _ = draw.text_style((240, 320, 3))
    large, _ = draw.text_style((4000, 6000, 3))
    assert large > 5 * small


def test_tracker_mask_label_is_the_more_probable_of_its_longer_average():
    """A face hovering around 50/50 after a clear start keeps its label; a lasting change switches it once; the
    shown label is always the more probable one (its percentage never under 50 %)."""
    from core.tracking import MASK_SMOOTHING

    tracker = FaceTracker()
    assert tracker.mask_smoothing == MASK_SMOOTHING > tracker.smoothing
    box = [100, 100, 80, 80]
    emotion = np.full((1, len(EMOTIONS)), 1 / len(EMOTIONS), np.float32)
    shown = []
    for p_with in [0.1, 0.1, 0.55, 0.6, 0.45, 0.7, 0.3, 0.5, 0.9, 0.95, 0.9, 0.95, 0.9, 0.6, 0.4, 0.5]:
        _, _, masks = tracker.update([box], emotion, np.array([[p_with, 1 - p_with]], np.float32))
        shown.append(int(np.argmax(masks[0])))
        assert masks[0].max() >= 0.5
    switches = sum(a != b for a, b in zip(shown, shown[1:]))
    assert switches == 1 and shown[0] == 1 and shown[-1] == 0, shown
    assert FaceTracker(smoothing=0.0).mask_smoothing == 0.0  # smoothing off is off for the mask too


def test_pipeline_reports_the_tracked_mask_label_and_hides_a_masked_expression(pipeline, media_dir):
    """With a tracker, the reported mask label is the more probable one of the track's average, with its
    probability; a face reported masked has no expression."""
    assert pipeline.has_mask_model  # models/mask is shipped
    frame = read_rgb(media_dir / "two_people.jpg")
    tracker = FaceTracker(min_track_frames=1)
    pipeline.process(frame, tracker)
    tracker.tracks[0].mask = np.array([0.9, 0.1], np.float32)  # pretend the first face was seen masked before
    result = pipeline.process(frame, tracker)
    face = result.faces[result.track_ids.index(tracker.tracks[0].track_id)]
    assert face["mask"]["label"] == "with_mask" and face["mask"]["score"] >= 0.5
    assert face["mask"]["score"] == pytest.approx(float(tracker.tracks[0].mask[0]), abs=1e-4)
    assert face["emotion"] is None
    other = result.faces[1 - result.faces.index(face)]
    assert other["mask"]["label"] == "without_mask" and other["emotion"]["label"] in EMOTIONS


def test_a_photo_is_searched_in_tiles_and_a_video_frame_is_not(pipeline, media_dir):
    from tests.harness import COLLAGE_PHOTOS, MEDIA_FACES, media_collage

    collage = media_collage(media_dir, cell=(400, 315))
    expected = sum(MEDIA_FACES[name] for name in COLLAGE_PHOTOS)
    photo = pipeline.process(collage, photo=True)
    assert len(photo.faces) == photo.faces_found == expected and photo.note is None
    assert all(face["mask"]["label"] == "without_mask" for face in photo.faces if not face["too_small"])
    assert len(pipeline.process(collage).faces) < expected  # a video frame keeps its frame rate


def test_faces_too_small_to_judge_get_no_label(pipeline, media_dir):
    import cv2

    from core.pipeline import MIN_JUDGED_SIDE

    frame = read_rgb(media_dir / "two_people.jpg")
    sides = [min(face["box"][2:]) for face in pipeline.process(frame).faces]
    factor = (MIN_JUDGED_SIDE - 8) / max(sides)  # every face a few pixels under the limit
    small = cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    padded = np.zeros((max(small.shape[0], 240), max(small.shape[1], 320), 3), np.uint8)
    padded[: small.shape[0], : small.shape[1]] = small
    faces = pipeline.process(padded).faces
    assert faces, "the detector still finds the shrunk faces"
    for face in faces:
        assert min(face["box"][2:]) < MIN_JUDGED_SIDE
        assert face["too_small"] is True and face["emotion"] is None and face["mask"] is None


def test_a_head_turned_beyond_fer2013s_poses_gets_no_expression_but_keeps_its_alert(pipeline, media_dir):
    """Tilted past MAX_READABLE_ROLL_DEGREES (the control: the same face upright and tilted less), or seen in profile:
    `head_turned`, no expression; the mask label, and so the alert, stay."""
    import cv2

    from core.pipeline import MAX_READABLE_ROLL_DEGREES, expression_readable
    from tests.harness import rotate_about

    photo = read_rgb(media_dir / "obama.jpg")
    centre = (photo.shape[1] / 2, photo.shape[0] / 2)
    for degrees in (0, 15, -15, MAX_READABLE_ROLL_DEGREES + 10, -(MAX_READABLE_ROLL_DEGREES + 10)):
        turned, _ = rotate_about(photo, centre, degrees, cv2.BORDER_REPLICATE)
        (face,) = pipeline.process(turned).faces
        assert set(face) == FACE_KEYS
        assert face["head_turned"] is (abs(degrees) > MAX_READABLE_ROLL_DEGREES), degrees
        assert (face["emotion"] is None) is face["head_turned"], degrees
        assert draw.expression_text(face) == (draw.HEAD_TURNED_TEXT if face["head_turned"] else face["emotion"]["label"])
    eyes = [[40, 50], [60, 50]]
    assert expression_readable(eyes + [[50, 60]]) and not expression_readable(eyes + [[62, 60]])  # nose beyond an eye
    for degrees in (MAX_READABLE_ROLL_DEGREES - 1, -(MAX_READABLE_ROLL_DEGREES - 1), MAX_READABLE_ROLL_DEGREES + 1,
                    -(MAX_READABLE_ROLL_DEGREES + 1)):
        assert expression_readable(turned_keypoints(degrees)) is (abs(degrees) <= MAX_READABLE_ROLL_DEGREES), degrees


def turned_keypoints(degrees: float) -> list:
    """BlazeFace's first three keypoints (right eye, left eye, nose tip) of a frontal face turned by `degrees`."""
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (np.array([[-10, 0], [10, 0], [0, 10]]) @ rotation.T + [50, 50]).tolist()


def test_the_browser_reads_the_same_poses_as_readable(node):
    """pipeline.js `expressionReadable` against core.pipeline.expression_readable, with the exported constants."""
    import json
    import subprocess

    from core.pipeline import MAX_READABLE_ROLL_DEGREES, expression_readable, pipeline_metadata
    from tests.harness import REPO

    cases = [turned_keypoints(degrees) for degrees in (0, 12, -29.5, 30.5, -31, 44, 50, 170, -90)]
    cases += [[[40, 50], [60, 50], [62, 60]], [[40, 50], [40, 50], [41, 60]]]  # profiles
    expected = [expression_readable(points) for points in cases]
    assert expected.count(True) == 3 and MAX_READABLE_ROLL_DEGREES == pipeline_metadata()["max_readable_roll_degrees"]
    script = f"""
        import {{expressionReadable}} from './web_static/js/pipeline.js';
        const constants = {json.dumps(pipeline_metadata())};
        process.stdout.write(JSON.stringify({json.dumps(cases)}.map(points => expressionReadable(points, constants))));
    """
    done = subprocess.run([node, "--input-type=module", "-e", script], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == expected
