"""Calibrated probabilities: the browser (web_static/js/models.js in a real headless Chromium, the committed
bundle, the page's wasm backend) gives the same temperature-scaled probabilities as Python (core.models) on real
FER2013 PublicTest faces. The bundle's metadata.json must carry the model folder's temperature (`python -m export`).
A quantized bundle (float16) is compared with the Keras model given the very weights the bundle decodes to."""

import json

import numpy as np
import pytest

from core.models import EMOTION_MODEL_DIR, FacialExpressionModel
from tests.harness import WEB_MODELS, open_ready_page, shared_chromium

FACES = 48
TOLERANCE = 1e-4  # float32 wasm vs TensorFlow on the same weights; the export check finds ~1e-6 before the temperature


def with_bundle_weights(model: FacialExpressionModel, quantization: str) -> FacialExpressionModel:
    """`model` with its weights as the tfjs bundle stores them (quantized tensors decoded, as tfjs decodes them)."""
    from export.tfjs_layers import encode_weight

    if quantization != "float32":
        model.model.set_weights([encode_weight(w, quantization)[2] for w in model.model.get_weights()])
    return model


def test_browser_and_python_give_the_same_calibrated_probabilities(web_server, fer_csv, playwright_instance):
    from train.data import load_fer2013

    folder_meta = json.loads((EMOTION_MODEL_DIR / "metadata.json").read_text())
    bundle_meta = json.loads((WEB_MODELS / "emotion" / "metadata.json").read_text())
    assert bundle_meta.get("temperature", 1.0) == folder_meta.get("temperature", 1.0), \
        "web_static/models/emotion has another temperature than models/emotion: re-run `python -m export --all`"
    assert folder_meta.get("temperature", 1.0) != 1.0, "the shipped model has no fitted temperature (train.calibrate)"

    images, _, _ = load_fer2013(fer_csv, usage="PublicTest")
    faces = images[:FACES].astype(np.float32)
    model = with_bundle_weights(FacialExpressionModel(EMOTION_MODEL_DIR), bundle_meta["tfjs"]["weights"])
    python = model.predict_proba(faces)
    raw = model.predict_proba(faces, calibrated=False)
    assert np.abs(python - raw).max() > 10 * TOLERANCE  # the temperature visibly changes these faces

    browser = shared_chromium(playwright_instance)
    try:
        page, errors = open_ready_page(browser, web_server)
        got = page.evaluate(
            """async ({faces, n}) => {
                 const {FaceClassifier} = await import('./js/models.js');
                 const index = await (await fetch('models/index.json')).json();
                 const classifier = await FaceClassifier.load('models/emotion/', index.pipeline.probability_floor);
                 return {temperature: classifier.temperature,
                         probs: await classifier.predictProba(new Float32Array(faces), n)};
               }""",
            {"faces": faces.ravel().tolist(), "n": FACES},
        )
        assert not errors, errors
    finally:
        browser.close()
    assert got["temperature"] == pytest.approx(model.temperature)
    js = np.array(got["probs"], dtype=np.float64)
    assert js.shape == python.shape
    diff = np.abs(js - python).max()
    assert diff <= TOLERANCE, f"browser and Python calibrated probabilities differ by up to {diff:.2e}"
    np.testing.assert_array_equal(js.argmax(axis=1), python.argmax(axis=1))
