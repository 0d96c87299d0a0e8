"""The browser's preprocessing (web_static/js/preprocess.js, run in Node) against Python's (OpenCV):
the BlazeFace letterbox of core.detector and the face crops of core.preprocess, on real media photos.

Same pixels in, the same network inputs out: at most one grey level apart (float rounding at exact halves), and
almost everywhere identical.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np

from tests.harness import REPO

SCRIPT = REPO / "tests" / "js" / "preprocess_dump.mjs"


def rgb(path):
    import cv2

    return np.ascontiguousarray(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))


def run_js(node, frames, tmp_path):
    from core.detector import detector_metadata
    from core.preprocess import crop_metadata

    specs = []
    for i, (image, letterbox_size, crops) in enumerate(frames):
        height, width = image.shape[:2]
        rgba = np.concatenate([image, np.full((height, width, 1), 255, np.uint8)], axis=2)
        rgba.tofile(tmp_path / f"frame{i}.rgba")
        specs.append({"rgba": str(tmp_path / f"frame{i}.rgba"), "width": width, "height": height,
                      "letterbox": letterbox_size, "crops": crops})
    job = {"frames": specs, "crop": crop_metadata(), "pixel_scale": detector_metadata()["pixel_scale"],
           "out": str(tmp_path / "out.f32")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    done = subprocess.run([node, str(SCRIPT), str(tmp_path / "job.json")], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.fromfile(tmp_path / "out.f32", np.float32)


def assert_same_pixels(js: np.ndarray, python: np.ndarray, what: str):
    diff = np.abs(js.astype(np.float64) - python.astype(np.float64))
    assert diff.max() <= 1.0, f"{what}: differs by up to {diff.max()} grey levels"
    assert (diff > 0).mean() <= 0.001, f"{what}: {(diff > 0).mean():.2%} of the values differ"


def test_letterbox_and_crops_match_opencv(node, media_dir, tmp_path):
    from core.detector import DEFAULT_DETECTOR, FaceDetector
    from core.preprocess import crop_face

    detector = FaceDetector(DEFAULT_DETECTOR)
    size = detector.size
    photos = [rgb(media_dir / "bbt1.jpg"), rgb(media_dir / "sad.jpg")]
    small = np.ascontiguousarray(photos[1][100:180, 150:250])  # 100x80: the letterbox enlarges (INTER_LINEAR)
    boxes = [
        [987, 89, 123, 122],   # an ordinary face: area shrink
        [0, 0, 60, 70],        # reaches outside the frame: edge replication
        [700, 300, 30, 30],    # side 36 < 48: INTER_AREA enlarging
        [100, 100, 80, 80],    # side 96 = 2 x 48: OpenCV's integer-scale fast path
        [1300, 700, 66, 80],   # bottom-right corner
    ]
    crops = [{"box": box, "size": s, "channels": c} for box in boxes for s, c in ((48, 1), (64, 3))]
    frames = [(photos[0], size, crops), (photos[1], size, []), (small, size, [])]
    values = run_js(node, frames, tmp_path)

    offset = 0
    for index, (image, _, frame_crops) in enumerate(frames):
        expected, _, _, _ = detector.letterbox(image)
        got = values[offset:offset + size * size * 3].reshape(size, size, 3)
        offset += size * size * 3
        # the JS gives pixel / 127.5 - 1; back to grey levels
        assert_same_pixels(np.round((got + 1.0) * 127.5), expected.astype(np.float32), f"letterbox of frame {index}")
        for crop in frame_crops:
            n = crop["size"] * crop["size"] * crop["channels"]
            got = values[offset:offset + n].reshape(crop["size"], crop["size"], crop["channels"])
            offset += n
            want = crop_face(image, crop["box"], crop["size"], crop["channels"])
            assert_same_pixels(got, want, f"crop {crop}")
    assert offset == values.size


def test_levelled_crops_match_python(node, media_dir, tmp_path):
    """A model trained on levelled faces ("level_eyes" in its "crop"): the page turns each crop by the eye line of its
    keypoints as core.preprocess.level_eyes does, on faces tilted both ways, beyond the limit and at the frame's edge."""
    from core.detector import FaceDetector
    from core.preprocess import crop_faces, crop_metadata

    image = rgb(media_dir / "bbt1.jpg")
    faces = FaceDetector().detect(image)
    assert len(faces) >= 4
    level = crop_metadata(level=True)
    tilts = [[[0, 0], [10, 4]], [[0, 0], [10, -7]], [[0, 0], [10, 30]], [[0, 0], [10, 0]]]  # 22, -35, 72 (limited), 0
    jobs = []
    for face, (right, left) in zip(faces, tilts):
        x, y = face.keypoints[0]
        keypoints = [[x + right[0], y + right[1]], [x + left[0], y + left[1]]] + face.keypoints[2:]
        jobs += [{"box": face.box, "size": s, "channels": c, "crop": level, "keypoints": keypoints}
                 for s, c in ((48, 1), (64, 3))]
    jobs.append({"box": [0, 0, 60, 70], "size": 48, "channels": 1, "crop": level, "keypoints": [[5, 20], [40, 35]]})
    values = run_js(node, [(image, None, jobs)], tmp_path)

    offset = 0
    for job in jobs:
        n = job["size"] * job["size"] * job["channels"]
        got = values[offset:offset + n].reshape(job["size"], job["size"], job["channels"])
        offset += n
        want = crop_faces(image, [job["box"]], job["size"], job["channels"], [job["keypoints"]])[0]
        diff = np.abs(got.astype(np.float64) - want)
        assert diff.max() <= 1.0, f"crop {job['box']}: differs by up to {diff.max()} grey levels"
        assert (diff > 1e-3).mean() <= 0.01, f"crop {job['box']}: {(diff > 1e-3).mean():.2%} of the values differ"
        if job["keypoints"][1][1] != job["keypoints"][0][1]:  # the control: the unturned crop is far from it
            unturned = crop_faces(image, [job["box"]], job["size"], job["channels"])[0]
            assert np.abs(got - unturned).mean() > 3 * max(diff.mean(), 0.1), job["box"]
    assert offset == values.size
