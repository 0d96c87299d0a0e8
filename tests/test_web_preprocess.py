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
