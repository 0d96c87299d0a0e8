"""BlazeFace as TensorFlow.js (export/blazeface_keras.py -> export/tfjs_layers.py -> the page's detector worker) against
LiteRT running the .tflite files (core/detector.py), on real photos of media/ and footage/photos/.

- the Keras rebuild gives LiteRT's raw outputs (both models, as the export check requires);
- the Keras rebuild of the face check's network (core/face_check.py) gives LiteRT's presence logits;
- the committed bundles under web_static/models/blazeface/ are the export of the .tflite files;
- in headless Chromium the page's detector finds the same faces as core.detector.FaceDetector.detect_tiled, every box
  within a pixel and every score within SCORE_TOLERANCE (photos saved as PNG first, so that both decode the same
  pixels), including a face found by the close-range pass, small faces found in tiles and faces of the finer grid that
  the face check confirmed.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.harness import (
    WEB_MODELS,
    collect_errors,
    footage_collage,
    media_collage,
    open_ready_page,
    read_rgb,
    require,
    shared_chromium,
    upload_to_page,
    wait_for,
)

BOX_TOLERANCE_PX = 1
SCORE_TOLERANCE = 0.01  # the page rounds scores to core.pipeline's score_decimals
FOOTAGE_PHOTOS = 8


@pytest.fixture(scope="module")
def frames(media_dir, data_root):
    from export.check import detector_sample_frames

    require(data_root / "footage" / "photos", "footage photos")
    found, _ = detector_sample_frames()
    return found


@pytest.mark.parametrize("model, padding", [("full", 1.0), ("short", 1.25)])
def test_keras_rebuild_gives_litert_outputs(frames, model, padding):
    from core.detector import DETECTOR_MODELS, model_path
    from export.blazeface_keras import keras_from_tflite
    from export.check import DETECTOR_ATOL, DETECTOR_RTOL, detector_raw_outputs

    inputs, litert = detector_raw_outputs(model, padding, frames)
    rebuilt = keras_from_tflite(model_path(DETECTOR_MODELS[model]["file"]))
    outputs = rebuilt.predict(inputs, verbose=0, batch_size=16)
    for output, reference in zip(outputs, litert):
        assert output.shape == reference.shape
        excess = np.abs(output - reference) / (DETECTOR_ATOL + DETECTOR_RTOL * np.abs(reference))
        assert excess.max() <= 1, f"{model}: Keras differs from LiteRT by {excess.max():.2f} x the tolerance"
    # the rows that matter (faces: score >= 0.5) agree far closer than the tolerance
    faces = litert[1][..., 0] > 0
    assert faces.any()
    assert np.abs(outputs[0][faces] - litert[0][faces]).max() < 0.02  # input pixels


def test_face_check_rebuild_gives_litert_presence(frames):
    from core.detector import model_path
    from core.face_check import FACE_CHECK
    from export.blazeface_keras import keras_from_tflite
    from export.check import DETECTOR_ATOL, face_check_raw_outputs

    inputs, (litert,) = face_check_raw_outputs(frames)
    rebuilt = keras_from_tflite(model_path(FACE_CHECK["file"]), outputs=[1])
    logits = rebuilt.predict(inputs, verbose=0, batch_size=16)
    assert logits.shape == litert.shape
    assert np.abs(logits - litert).max() <= DETECTOR_ATOL
    assert (litert > 0).any() and (litert < 0).any()  # faces and boxes moved off them: both answers are checked


def test_committed_detector_bundles_are_the_export():
    from core.detector import DETECTOR_MODELS, model_path
    from export.blazeface_keras import keras_from_tflite
    from export.bundles import DETECTOR_FOLDER, DETECTOR_WEIGHTS
    from export.tfjs_layers import build_bundle, dumps

    folder = WEB_MODELS / DETECTOR_FOLDER
    meta = json.loads((folder / "detector.json").read_text())
    for key, model_file in (("model", meta["model_file"]), ("close_range_model", meta["close_range"]["model_file"])):
        bundle = folder / meta["tfjs"][key]
        name = bundle.parent.name
        assert model_file == DETECTOR_MODELS[name]["file"]
        manifest, shards = build_bundle(keras_from_tflite(model_path(model_file), name=f"blazeface_{name}"), name,
                                        DETECTOR_WEIGHTS)
        stale = [file for file, data in {"model.json": dumps(manifest).encode(), **shards}.items()
                 if (bundle.parent / file).read_bytes() != data]
        assert not stale, f"{bundle.parent} is not the export of {model_file}: run `python -m export --all`"
    bundle = folder / meta["tfjs"]["face_check_model"]
    manifest, shards = build_bundle(keras_from_tflite(model_path(meta["face_check"]["file"]), name="face_check",
                                                      outputs=[1]), "face_check")
    stale = [file for file, data in {"model.json": dumps(manifest).encode(), **shards}.items()
             if (bundle.parent / file).read_bytes() != data]
    assert not stale, f"{bundle.parent} is not the export of {meta['face_check']['file']}: run `python -m export --all`"


def python_faces(path) -> list[dict]:
    from core.detector import FaceDetector

    return [{"box": d.box, "score": d.score} for d in FaceDetector().detect_tiled(read_rgb(path))]


def test_tfjs_detector_boxes_stay_within_a_pixel_of_litert(web_server, media_dir, data_root, playwright_instance,
                                                         tmp_path):
    from core.detector import TILING, FaceDetector
    from core.pipeline import MAX_FACES_PHOTO

    footage = sorted(require(data_root / "footage" / "photos", "footage photos").glob("*.jpg"))
    sources = sorted(media_dir.glob("*.jpg")) + footage[:: max(1, len(footage) // FOOTAGE_PHOTOS)][:FOOTAGE_PHOTOS]
    photos = []
    for source in sources:  # PNG: the browser and OpenCV decode exactly the same pixels
        path = tmp_path / f"{source.stem}.png"
        cv2.imwrite(str(path), cv2.imread(str(source)))
        photos.append(path)
    image = read_rgb(media_dir / "obama.jpg")  # a face that fills the frame: the close-range pass finds it
    x, y, w, h = FaceDetector().detect(image)[0].box
    tight = tmp_path / "tight_obama.png"
    cv2.imwrite(str(tight), cv2.cvtColor(image[y:y + h, x:x + w], cv2.COLOR_RGB2BGR))
    assert not FaceDetector(close_range=False).detect(read_rgb(tight)), "the tight crop no longer needs the second pass"
    collage = tmp_path / "collage.png"  # small faces in a large photo: found in tiles
    cv2.imwrite(str(collage), cv2.cvtColor(media_collage(media_dir), cv2.COLOR_RGB2BGR))
    crowd = tmp_path / "footage_collage.png"  # and in the finer grid, checked by the face check (tests/test_detector.py)
    cv2.imwrite(str(crowd), cv2.cvtColor(footage_collage(data_root / "footage", "24"), cv2.COLOR_RGB2BGR))
    photos += [tight, collage, crowd]

    browser = shared_chromium(playwright_instance)
    try:
        page, errors = open_ready_page(browser, web_server)
        face_check_loads = []  # the photo during which the page fetched the face check's model (only when needed)
        page.on("request", lambda request: face_check_loads.append(photo.name)
                if request.url.endswith("face_check/model.json") else None)
        drift = []
        for photo in photos:
            browser_faces = upload_to_page(page, photo)
            expected = sorted(python_faces(photo), key=lambda f: -f["box"][2] * f["box"][3])[:MAX_FACES_PHOTO]
            assert len(browser_faces) == len(expected), (photo.name, expected, browser_faces)
            for face in expected:
                nearest = min(browser_faces, key=lambda b: np.abs(np.subtract(b["box"], face["box"])).max())
                drift.append((photo.name, int(np.abs(np.subtract(nearest["box"], face["box"])).max()),
                              abs(nearest["score"] - face["score"]), face["box"], nearest["box"]))
        print("\n".join(map(str, drift)))
        assert sum(1 for row in drift if row[0] == "collage.png") >= 4
        assert sum(1 for row in drift if row[0] == "footage_collage.png") == 23
        assert len(face_check_loads) == 1, face_check_loads  # once, and for a photo searched in tiles
        assert max(cv2.imread(str(tmp_path / face_check_loads[0])).shape[:2]) >= TILING["min_frame_side"]
        assert all(row[1] <= BOX_TOLERANCE_PX for row in drift), [row for row in drift if row[1] > BOX_TOLERANCE_PX]
        assert all(row[2] <= SCORE_TOLERANCE for row in drift), [row for row in drift if row[2] > SCORE_TOLERANCE]
        assert page.evaluate("() => window.pageState.detectorBackend") in ("wasm", "webgl")
        assert page.evaluate("() => window.pageState.pipeline.detector.backend.direct") is True  # js/layers_runner.js
        assert not errors, errors
    finally:
        browser.close()


def test_detector_worker_runs_the_wasm_threads_asked_with_the_same_faces(web_server, media_dir, playwright_instance,
                                                                          tmp_path):
    """?threads=2 on a cross-origin isolated page: the detector worker's wasm backend really runs two threads (the
    threaded module caps its pool at navigator.hardwareConcurrency / 2, one thread on a 2-core machine, unless
    js/backends.js lifts the cap) and finds the same faces as one thread."""
    photo = tmp_path / "happy.png"
    cv2.imwrite(str(photo), cv2.imread(str(media_dir / "happy.jpg")))
    browser = shared_chromium(playwright_instance)
    pages, errors = [], []
    try:
        for threads in (1, 2):  # asked explicitly: the page's own choice is all cores but one
            page = browser.new_page()
            errors.append(collect_errors(page))
            page.goto(web_server + f"?camera=0&threads={threads}")
            wait_for(page, "window.pageState && window.pageState.ready")
            pages.append(page)
        single, threaded = pages
        assert threaded.evaluate("() => window.crossOriginIsolated") is True
        backends = [page.evaluate("() => window.pageState.pipeline.detector.backend") for page in (single, threaded)]
        assert [backend["name"] for backend in backends] == ["wasm", "wasm"], backends
        assert [backend["threads"] for backend in backends] == [1, 2], backends
        expected = upload_to_page(single, photo)
        faces = upload_to_page(threaded, photo)
        assert faces and [(f["box"], f["score"]) for f in faces] == [(f["box"], f["score"]) for f in expected]
        assert not any(errors), errors
    finally:
        browser.close()
