"""Knowledge distillation (train/distill.py): the loss's two ends, and `train.train --teacher` end to end on a few
hundred real FER2013 rows (a teacher folder in, a student folder out that loads)."""

import json
import subprocess

import numpy as np
import pytest

from core.model_folder import EMOTION_MODEL_DIR, MASK_MODEL_DIR
from tests.harness import REPO, train_command


def _student_t(probabilities, temperature):
    logits = np.log(probabilities) / temperature
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_distillation_loss_is_cross_entropy_at_alpha_0_and_kl_at_alpha_1():
    from train.distill import DistillationLoss

    rng = np.random.default_rng(0)
    student = rng.dirichlet(np.ones(7), size=5).astype(np.float32)
    hard = np.eye(7, dtype=np.float32)[rng.integers(0, 7, size=5)]
    teacher = rng.dirichlet(np.ones(7), size=5).astype(np.float32)
    packed = np.concatenate([hard, teacher], axis=1)

    cross_entropy = -np.log(student[hard.astype(bool)]).mean()
    assert float(DistillationLoss(7, alpha=0.0)(packed, student)) == pytest.approx(cross_entropy, rel=1e-5)

    t = 3.0
    kl = (teacher * (np.log(teacher) - np.log(_student_t(student, t)))).sum(axis=1).mean() * t * t
    assert float(DistillationLoss(7, alpha=1.0, temperature=t)(packed, student)) == pytest.approx(kl, rel=1e-4)

    # A student that already matches the teachers at temperature T has nothing left to learn from them.
    matched = np.concatenate([hard, _student_t(student, t).astype(np.float32)], axis=1)
    assert float(DistillationLoss(7, alpha=1.0, temperature=t)(matched, student)) == pytest.approx(0.0, abs=1e-5)


def test_train_with_a_teacher_writes_a_student_that_loads(tiny_csv, tmp_path):
    out, run_dir = tmp_path / "student", tmp_path / "run"
    result = subprocess.run(
        train_command(tiny_csv, out, run_dir, 1, "--network", "sepvgg", "--teacher", str(EMOTION_MODEL_DIR)),
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distilling from 1 teacher(s) at temperature 3.0, alpha 0.7" in result.stderr
    record = json.loads((out / "training.json").read_text())
    assert record["network"] == "sepvgg" and record["teachers"] == [str(EMOTION_MODEL_DIR)]
    assert "distilled from" in record["loss"]

    from core.models import FacialExpressionModel

    student = FacialExpressionModel(out)
    assert student.model.name == "sepvgg"
    probabilities = student.predict_proba(np.full((2, 48, 48, 1), 128, np.uint8))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_a_teacher_for_another_task_is_refused_by_name(tiny_csv, tmp_path):
    result = subprocess.run(
        train_command(tiny_csv, tmp_path / "m", tmp_path / "r", 1, "--teacher", str(MASK_MODEL_DIR)),
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert f"error: teacher {MASK_MODEL_DIR}: input (64, 64, 3) with 2 labels, expected input (48, 48, 1) with 7 labels" \
        in result.stderr
