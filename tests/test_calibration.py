"""train/calibration.py (ECE, temperature fitting), core.models.apply_temperature, and train.calibrate on a copy of
the shipped expression model with real FER2013 PublicTest rows (only metadata.json changes)."""

import gzip
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from core.model_folder import EMOTION_MODEL_DIR
from core.models import FacialExpressionModel, apply_temperature
from tests.harness import REPO
from train.calibration import (
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)

ROWS = 400


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_ece_of_hand_made_cases():
    # 10 samples, all at confidence 0.9, 5 right: one bin, gap 0.4
    p = np.tile([0.9, 0.1], (10, 1))
    labels = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(p, labels) == pytest.approx(0.4)
    # two bins: 0.6-confident all right (gap 0.4), 1.0-confident all right (gap 0): weighted 0.2
    p = np.array([[0.6, 0.4]] * 4 + [[1.0, 0.0]] * 4)
    assert expected_calibration_error(p, np.zeros(8, int)) == pytest.approx(0.2)
    table = reliability_bins(p, np.zeros(8, int))
    assert sum(table["count"]) == 8 and table["count"][-1] == 4
    assert negative_log_likelihood(np.array([[0.5, 0.5]]), np.array([1])) == pytest.approx(np.log(2))


def test_fit_temperature_recovers_the_overconfidence_factor():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2.0, size=(20000, 7))
    true_p = softmax(logits)
    labels = np.array([rng.choice(7, p=row) for row in true_p])
    overconfident = softmax(logits * 2.5)  # what an over-confident network would say
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(2.5, rel=0.05)
    calibrated = apply_temperature(overconfident, temperature)
    assert expected_calibration_error(calibrated, labels) < 0.02 < expected_calibration_error(overconfident, labels)
    # already calibrated probabilities keep T close to 1
    assert fit_temperature(true_p, labels) == pytest.approx(1.0, abs=0.05)


def test_apply_temperature_properties():
    rng = np.random.default_rng(1)
    p = softmax(rng.normal(0, 3, size=(50, 7))).astype(np.float32)
    np.testing.assert_array_equal(apply_temperature(p, 1.0), p)
    for t in (0.5, 1.7):
        q = apply_temperature(p, t)
        assert q.dtype == np.float32
        np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(q.argmax(axis=1), p.argmax(axis=1))
        assert ((q.max(axis=1) < p.max(axis=1)) if t > 1 else (q.max(axis=1) > p.max(axis=1))).all()
    # a zero probability stays finite
    assert np.isfinite(apply_temperature(np.array([[1.0, 0.0]], np.float32), 2.0)).all()


@pytest.fixture(scope="module")
def public_csv(fer_csv, tmp_path_factory):
    """The first ROWS PublicTest rows of the real CSV."""
    rows = []
    with gzip.open(fer_csv, "rt") as handle:
        header = handle.readline()
        for line in handle:
            if line.rstrip().endswith("PublicTest"):
                rows.append(line)
                if len(rows) == ROWS:
                    break
    path = tmp_path_factory.mktemp("fer") / "public.csv"
    path.write_text(header + "".join(rows))
    return path


def test_calibrate_cli_changes_only_the_metadata(public_csv, tmp_path):
    model = tmp_path / "emotion"
    shutil.copytree(EMOTION_MODEL_DIR, model)
    metadata = json.loads((model / "metadata.json").read_text())
    metadata.pop("temperature", None)
    metadata.pop("calibration", None)
    (model / "metadata.json").write_text(json.dumps(metadata))
    before = FacialExpressionModel(model)
    assert before.temperature == 1.0  # absent = 1
    done = subprocess.run([sys.executable, "-m", "train.calibrate", "--model", str(model), "--data", str(public_csv),
                           "--json", "--reliability-png", str(tmp_path / "reliability.png")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    stored = json.loads((model / "metadata.json").read_text())
    assert stored["temperature"] == report["temperature"] != 1.0
    assert stored["calibration"]["n"] == ROWS and "PublicTest" in stored["calibration"]["split"]
    assert report["nll"] < report["nll_uncalibrated"]  # the fit minimises NLL on exactly these rows
    for name in ("model.json", "model.weights.h5"):
        assert (model / name).read_bytes() == (EMOTION_MODEL_DIR / name).read_bytes(), name
    assert (tmp_path / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(model.glob("*partial*"))

    # the loaded model applies it: calibrated = softmax(log(raw) / T), after the flip average
    after = FacialExpressionModel(model)
    faces = np.random.default_rng(2).integers(0, 256, size=(5, 48, 48, 1)).astype(np.float32)
    raw = after.predict_proba(faces, calibrated=False)
    np.testing.assert_allclose(raw, before.predict_proba(faces), atol=1e-6)
    np.testing.assert_allclose(after.predict_proba(faces), apply_temperature(raw, stored["temperature"]), atol=1e-6)
    assert np.abs(after.predict_proba(faces) - raw).max() > 1e-3
