"""The face check in the browser (web_static/js/face_check.js in a real headless Chromium, the committed bundle, the
page's TensorFlow.js) against Python (core.face_check, LiteRT): the same input pixels for a face, the same face turned
by 25 degrees and a box moved onto the body, and the same face presence, on a real media photo."""

import base64
import json

import cv2
import numpy as np

from core.detector import Detection, FaceDetector
from core.face_check import FaceCheck, face_check_input
from tests.harness import WEB_MODELS, open_ready_page, read_rgb, shared_chromium

INPUT_TOLERANCE = 1e-5  # float64 arithmetic on both sides, stored as float32
PRESENCE_TOLERANCE = 1e-3


def test_browser_face_check_gives_python_inputs_and_presence(web_server, media_dir, playwright_instance):
    image = read_rgb(media_dir / "happy.jpg")
    face = FaceDetector().detect(image)[0]
    x, y, w, h = face.box
    turned = cv2.warpAffine(image, cv2.getRotationMatrix2D((x + w / 2, y + h / 2), 25, 1.0),
                            (image.shape[1], image.shape[0]))
    matrix = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), 25, 1.0)
    cases = [
        (image, face),
        (turned, Detection(face.box, face.score, [list(matrix @ [px, py, 1.0]) for px, py in face.keypoints])),
        (image, Detection([x, y + h, w, h], face.score, [[px, py + h] for px, py in face.keypoints])),
    ]
    check = FaceCheck()
    python_inputs = [face_check_input(frame, d.box, d.keypoints) for frame, d in cases]
    python_presence = [check.presence(frame, d) for frame, d in cases]
    assert python_presence[0] > 0.5 and python_presence[2] < 0.5  # a face, and not one: both answers compared

    meta = json.loads((WEB_MODELS / "blazeface" / "detector.json").read_text())
    browser = shared_chromium(playwright_instance)
    try:
        page, errors = open_ready_page(browser, web_server)
        got = page.evaluate(
            """async ({cases, meta, url}) => {
                 const {FaceCheck, faceCheckInput} = await import('./js/face_check.js');
                 const check = await FaceCheck.load(url, meta);
                 const results = [];
                 for (const {rgba, width, height, face} of cases) {
                   const frame = {data: Uint8ClampedArray.from(atob(rgba), c => c.charCodeAt(0)), width, height};
                   const input = faceCheckInput(frame, face, meta);
                   results.push({input: Array.from(input),
                                 presence: await check.presence(frame, face)});
                 }
                 return results;
               }""",
            {"cases": [{"rgba": base64.b64encode(cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA).tobytes()).decode(),
                        "width": frame.shape[1], "height": frame.shape[0],
                        "face": {"box": d.box, "keypoints": d.keypoints}} for frame, d in cases],
             "meta": meta["face_check"], "url": "models/blazeface/" + meta["tfjs"]["face_check_model"]},
        )
        assert not errors, errors
    finally:
        browser.close()
    for expected, presence, result in zip(python_inputs, python_presence, got):
        js = np.array(result["input"], dtype=np.float32).reshape(expected.shape)
        assert np.abs(js - expected).max() <= INPUT_TOLERANCE
        assert abs(result["presence"] - presence) <= PRESENCE_TOLERANCE, (result["presence"], presence)
