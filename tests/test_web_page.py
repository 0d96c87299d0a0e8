"""The in-browser page in a real headless Chromium: fake camera, image upload, camera errors, and parity with
`python app.py predict` (same detector, same preprocessing, same networks) on the media photos.

The page runs the committed bundles of web_static/models/. Python runs the model folder those bundles were exported
from (FACEXP_EMOTION_MODEL / models/emotion, FACEXP_MASK_MODEL / models/mask); a bundle whose weights differ from that
folder is stale and fails the parity test with the command that refreshes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.draw import HEAD_TURNED_TEXT, HIDDEN_EXPRESSION_TEXT, expression_text
from tests.harness import (
    REPO,
    WEB_MODELS,
    camera_file_from_image,
    collect_errors,
    media_collage,
    open_ready_page,
    read_rgb,
    require,
    shared_chromium,
    skip_or_fail,
    upload_to_page,
    wait_for,
)

AMBER = (255, 191, 0)  # face box colour without a mask model (core/draw.py, web_static/js/draw.js)
MASKED_PARITY_PHOTOS = ("leoring123_000146.jpg", "leoring123_000149.jpg")  # footage/photos: one masked face each
PARITY_PHOTOS = ("2008_002506.jpg", "angry.jpg", "bbt1.jpg", "biden.jpg", "happy.jpg", "obama.jpg",
                 "obama_and_biden.jpg", "sad.jpg", "surprised.jpg", "two_people.jpg")


def labels_of(model: str) -> list[str]:
    return json.loads((WEB_MODELS / model / "metadata.json").read_text())["labels"]


def test_fake_camera_face_gets_a_labelled_box(web_server, media_dir, playwright_instance, tmp_path):
    camera = camera_file_from_image(media_dir / "happy.jpg", tmp_path)
    browser = shared_chromium(playwright_instance, camera)
    try:
        page = browser.new_page()
        errors = collect_errors(page)
        page.goto(web_server + "?camera=1")  # the camera starts at load (a user clicks "Start camera")
        wait_for(page, "window.lastResult && window.lastResult.source === 'camera' && window.lastResult.frame >= 5 "
                       "&& window.lastResult.faces.length > 0")
        result = page.evaluate("() => window.lastResult")
        assert page.evaluate("() => window.pageState.backend") == "wasm"
        assert (result["width"], result["height"]) == (640, 480)
        assert len(result["faces"]) == 1, result["faces"]
        face = result["faces"][0]
        x, y, w, h = face["box"]
        # happy.jpg (500x282) letterboxed into 640x480: the face is in the upper middle of the picture area
        assert 250 < x + w / 2 < 450 and 100 < y + h / 2 < 330 and 120 < w < 300, face["box"]
        assert face["emotion"]["label"] in labels_of("emotion")
        assert set(face["emotion"]["scores"]) == set(labels_of("emotion"))
        assert abs(sum(face["emotion"]["scores"].values()) - 1) < 1e-3
        mask_model = (WEB_MODELS / "mask" / "metadata.json").is_file()
        assert (face["mask"] is not None) == mask_model
        if mask_model:
            assert face["mask"]["label"] in labels_of("mask")
        # the drawn box and its label: the box colour on the box's left edge, and inside the label patch above it
        color = page.evaluate(
            """([x, y, w, h]) => {
                const ctx = document.getElementById('view').getContext('2d');
                const edge = ctx.getImageData(x, Math.round(y + h / 2), 1, 1).data;
                const label = ctx.getImageData(x + 2, Math.max(0, y - 4), 1, 1).data;
                return {edge: Array.from(edge).slice(0, 3), label: Array.from(label).slice(0, 3)};
            }""", face["box"])
        if not mask_model:
            assert np.abs(np.subtract(color["edge"], AMBER)).max() <= 8, color
            assert np.abs(np.subtract(color["label"], AMBER)).max() <= 8, color
        else:
            assert color["edge"] == color["label"] and max(color["edge"]) >= 200, color
        bars = page.locator("#emotion-bars .bar-row")
        assert bars.count() == len(labels_of("emotion"))
        assert "frames/s" in page.locator("#fps").inner_text()
        assert not errors, errors
    finally:
        browser.close()


@pytest.mark.parametrize("case, error, words", [
    ("denied", "NotAllowedError", "permission was denied"),
    ("no-camera", "NotFoundError", "no camera was found"),
])
def test_camera_problems_give_a_clear_message(web_server, playwright_instance, case, error, words):
    if case == "denied":
        # a (fake) camera exists, but permission is not granted: headless Chromium refuses the request
        from tests.harness import CHROMIUM, CHROMIUM_FLAGS

        shared_chromium(playwright_instance).close()  # skips (or fails under CI) without Chromium
        browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                      args=CHROMIUM_FLAGS + ["--use-fake-device-for-media-stream"])
    else:
        browser = shared_chromium(playwright_instance)  # no camera device at all
    try:
        page = browser.new_context(permissions=[] if case == "denied" else ["camera"]).new_page()
        page.goto(web_server)
        wait_for(page, "window.pageState && window.pageState.ready")
        page.click("#start-camera")
        wait_for(page, "window.pageState && ['error', 'unavailable'].includes(window.pageState.camera)")
        assert page.evaluate("() => window.pageState.cameraError") == error
        message = page.locator("#message")
        assert message.is_visible()
        text = message.inner_text().lower()
        assert words in text and "upload an image" in text, text
        assert page.locator("#upload").is_enabled()  # the fallback
    finally:
        browser.close()


def python_model_matches_bundle(task: str, model_dir: Path) -> bool:
    from core.models import load_keras_model
    from export.tfjs_layers import build_bundle

    model, _ = load_keras_model(model_dir)
    weights = json.loads((WEB_MODELS / task / "metadata.json").read_text())["tfjs"]["weights"]
    _, shards = build_bundle(model, task, None if weights == "float32" else weights)
    return all((WEB_MODELS / task / name).is_file() and (WEB_MODELS / task / name).read_bytes() == data
               for name, data in shards.items())


def tight_face_photo(photo, folder):
    """The photo cut to its face box (a face that fills the frame), saved as PNG in `folder`."""
    from core.detector import FaceDetector

    image = read_rgb(photo)
    x, y, w, h = FaceDetector().detect(image)[0].box
    path = folder / f"tight_{photo.stem}.png"
    cv2.imwrite(str(path), cv2.cvtColor(image[y:y + h, x:x + w], cv2.COLOR_RGB2BGR))
    return path


def turned_photo(photo, folder, degrees: float = 40):
    """The photo turned by `degrees` about its centre (a head tilted past core.pipeline.MAX_READABLE_ROLL_DEGREES),
    saved as PNG in `folder`."""
    from tests.harness import rotate_about

    image = read_rgb(photo)
    turned, _ = rotate_about(image, (image.shape[1] / 2, image.shape[0] / 2), degrees, cv2.BORDER_REPLICATE)
    path = folder / f"turned_{photo.stem}.png"
    cv2.imwrite(str(path), cv2.cvtColor(turned, cv2.COLOR_RGB2BGR))
    return path


def test_upload_parity_with_python_predict(web_server, media_dir, data_root, playwright_instance, tmp_path):
    from core.pipeline import emotion_model_dir, mask_model_dir

    photos = [media_dir / name for name in PARITY_PHOTOS if (media_dir / name).is_file()]
    if len(photos) < len(PARITY_PHOTOS):
        skip_or_fail(f"media photos missing in {media_dir}")
    photos.append(tight_face_photo(media_dir / "obama.jpg", tmp_path))  # found by the close-range pass
    photos.append(turned_photo(media_dir / "obama.jpg", tmp_path))  # a head turned too far: no expression read
    collage = tmp_path / "collage.png"  # small faces in a large photo: found in tiles
    cv2.imwrite(str(collage), cv2.cvtColor(media_collage(media_dir), cv2.COLOR_RGB2BGR))
    photos.append(collage)
    footage = require(data_root / "footage" / "photos", "footage photos")
    photos += [footage / name for name in MASKED_PARITY_PHOTOS]  # masked faces: expression hidden in both
    emotion_dir = emotion_model_dir()
    if not (emotion_dir / "model.json").is_file():
        skip_or_fail(f"no expression model at {emotion_dir} (set FACEXP_EMOTION_MODEL)")
    stale = [task for task, folder in (("emotion", emotion_dir), ("mask", mask_model_dir()))
             if (WEB_MODELS / task / "metadata.json").is_file() and (folder / "model.json").is_file()
             and not python_model_matches_bundle(task, folder)]
    if stale:
        pytest.fail(f"web_static/models/{stale} were not exported from the Python model folders: "
                    "re-run `python -m export --all`")
    has_mask = (WEB_MODELS / "mask" / "metadata.json").is_file()
    command = [sys.executable, str(REPO / "app.py"), "predict", *map(str, photos), "--json",
               "--emotion-model", str(emotion_dir)]
    if has_mask:
        command += ["--mask-model", str(mask_model_dir())]
    else:
        command += ["--mask-model", str(tmp_path / "no-mask-model")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    python = {Path(r["input"]).name: r for r in map(json.loads, done.stdout.strip().splitlines())}

    browser = shared_chromium(playwright_instance)
    try:
        page, errors = open_ready_page(browser, web_server)
        report = []
        for photo in photos:
            browser_faces = upload_to_page(page, photo)
            python_faces = python[photo.name]["faces"]
            if photo.name == "turned_obama.png":  # the bars say why they are empty
                assert "turned too far" in page.locator("#emotion-bars").inner_text()
            report.append((photo.name, len(python_faces), len(browser_faces),
                           expression_text(python_faces[0]) if python_faces else None,
                           expression_text(browser_faces[0]) if browser_faces else None,
                           python_faces[0]["box"] if python_faces else None,
                           browser_faces[0]["box"] if browser_faces else None,
                           max((abs(p["emotion"]["scores"][k] - b["emotion"]["scores"][k])
                                for p, b in zip(python_faces, browser_faces) if p["emotion"] and b["emotion"]
                                for k in p["emotion"]["scores"]), default=0.0),
                           [(p["mask"] or {}).get("label") == (b["mask"] or {}).get("label")
                            for p, b in zip(python_faces, browser_faces)]))
        print("\n".join(map(str, report)))
        mismatched = [row for row in report if row[1] != row[2] or row[3] != row[4]]
        assert not mismatched, "photo, faces (python, browser), top-1 of the largest face (python, browser), boxes:\n" + \
            "\n".join(map(str, mismatched))
        # the masked faces are called masked, and their expression hidden, on both sides
        assert [row[3] for row in report if row[0] in MASKED_PARITY_PHOTOS] == [HIDDEN_EXPRESSION_TEXT] * 2
        assert [row[3] for row in report if row[0] == "turned_obama.png"] == [HEAD_TURNED_TEXT]
        for name, _, _, _, _, python_box, browser_box, score_diff, masks_agree in report:
            if python_box:
                assert np.abs(np.subtract(python_box, browser_box)).max() <= 3, (name, python_box, browser_box)
            assert score_diff <= 0.05, f"{name}: expression probabilities differ by up to {score_diff:.3f}"
            assert all(masks_agree), f"{name}: mask labels differ between Python and the browser"
        # the classifiers ran as plain ops (js/layers_runner.js), the path every camera frame takes
        assert page.evaluate("() => window.pageState.pipeline.emotion.direct") is True
        assert page.evaluate("() => !window.pageState.pipeline.mask || window.pageState.pipeline.mask.direct") is True
        assert not errors, errors
    finally:
        browser.close()


def test_cpu_fallback_backend_gives_the_same_result(web_server, media_dir, playwright_instance):
    browser = shared_chromium(playwright_instance)
    try:
        results = {}
        for backend in ("wasm", "cpu"):
            page = browser.new_page()
            page.goto(web_server + f"?camera=0&backend={backend}")
            wait_for(page, "window.pageState && window.pageState.ready")
            assert page.evaluate("() => window.pageState.backend") == backend
            page.set_input_files("#upload", str(media_dir / "happy.jpg"))
            wait_for(page, "window.lastResult", timeout=120)
            results[backend] = page.evaluate("() => window.lastResult.faces")
            page.close()
        assert len(results["cpu"]) == len(results["wasm"]) == 1
        cpu, wasm = results["cpu"][0], results["wasm"][0]
        assert cpu["box"] == wasm["box"] and cpu["emotion"]["label"] == wasm["emotion"]["label"]
        assert max(abs(cpu["emotion"]["scores"][k] - wasm["emotion"]["scores"][k]) for k in cpu["emotion"]["scores"]) <= 2e-4
    finally:
        browser.close()


def test_uploads_that_are_not_usable_images_are_refused_clearly(web_server, playwright_instance, tmp_path):
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("not a photo")
    browser = shared_chromium(playwright_instance)
    try:
        page = browser.new_page()
        page.goto(web_server + "?camera=0")
        wait_for(page, "window.pageState && window.pageState.ready")
        page.set_input_files("#upload", str(not_an_image))
        wait_for(page, "!document.getElementById('message').hidden")
        text = page.locator("#message").inner_text()
        assert "notes.txt" in text and "not an image" in text, text
        import cv2

        cv2.imwrite(str(tmp_path / "tiny.png"), np.full((10, 12, 3), 128, np.uint8))
        page.set_input_files("#upload", str(tmp_path / "tiny.png"))
        wait_for(page, "document.getElementById('message').textContent.includes('12x10')")
        assert "at least 24x24" in page.locator("#message").inner_text()
        assert page.evaluate("() => window.lastResult") is None
    finally:
        browser.close()
