"""train.train + train.evaluate end to end on a few hundred real FER2013 rows: a loadable model, a killed run that
resumes, and the evaluate JSON interface."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from core.labels import EMOTIONS
from tests.harness import REPO
from tests.harness import TINY_FER_ROWS as ROWS
from tests.harness import train_command as _train_command


def history_epochs(path) -> list[int]:
    """The epoch column of history.csv's complete rows."""
    lines = path.read_text().split("\n")[1:-1] if path.is_file() else []  # the last piece: "" or a row being written
    return [int(line.split(",")[0]) for line in lines]


def test_killed_training_resumes_and_writes_a_loadable_model(tiny_csv, tmp_path):
    """Killed with SIGKILL where it hurts most, after CSVLogger wrote an epoch's row but before the checkpoint counted
    the epoch (state.json): --resume trains that epoch again, and history.csv still has each epoch once.
    The model folder it then writes loses the figures drawn for the model it held before."""
    import shutil

    from core.model_folder import EMOTION_MODEL_DIR

    out, run_dir = tmp_path / "model", tmp_path / "run"
    process = subprocess.Popen(_train_command(tiny_csv, out, run_dir, 30), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    state_file, history_file = run_dir / "state.json", run_dir / "history.csv"
    in_window = False
    while time.time() < deadline and process.poll() is None:
        done = json.loads(state_file.read_text())["epochs_done"] if state_file.is_file() else 0
        if done >= 1 and len(history_epochs(history_file)) > done:
            in_window = True
            break
        time.sleep(0.01)
    assert process.poll() is None, f"training stopped early: {process.stderr.read()[-2000:]}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert in_window, "no kill between an epoch's history row and its checkpoint within 240 s"
    killed_at = json.loads(state_file.read_text())["epochs_done"]
    assert history_epochs(history_file) == list(range(killed_at + 1))  # the row of an epoch not counted yet
    assert (run_dir / "last.keras").is_file() and (run_dir / "best.weights.h5").is_file()
    assert not out.exists(), "the model folder is written only when training finishes"

    out.mkdir()  # a folder that held another model, with the figures drawn for it
    for name in ("confusion.png", "reliability.png", "curves.png"):
        shutil.copyfile(EMOTION_MODEL_DIR / name, out / name)
    # Resume with a shorter total so the test ends: it continues after the killed epoch, it does not start over.
    total = killed_at + 1
    result = subprocess.run(_train_command(tiny_csv, out, run_dir, total, "--resume"), cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming {run_dir / 'last.keras'} after epoch {killed_at}" in result.stderr
    assert history_epochs(history_file) == list(range(total))  # each epoch once, the killed one retrained
    assert (run_dir / "curves.png").stat().st_size > 1000
    assert not (out / "confusion.png").exists() and not (out / "reliability.png").exists()
    assert (out / "curves.png").read_bytes() == (run_dir / "curves.png").read_bytes()

    for name in ("model.json", "model.weights.h5", "metadata.json", "training.json", "TRAINING.md"):
        assert (out / name).is_file(), name
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["labels"] == list(EMOTIONS) and metadata["input"]["size"] == 48
    # a temperature fitted on the validation split at the end of training
    assert metadata["temperature"] > 0 and metadata["calibration"]["n"] == ROWS
    record = json.loads((out / "training.json").read_text())
    assert record["train_images"] == ROWS and record["validation_images"] == ROWS
    assert "--resume" in record["command"] and record["epochs"] == total

    from core.models import FacialExpressionModel

    model = FacialExpressionModel(out)
    probabilities = model.predict_proba(np.full((3, 48, 48, 1), 128, np.uint8))
    assert probabilities.shape == (3, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    # evaluate --json: exactly one JSON object on stdout, with the documented fields.
    evaluation = subprocess.run(
        [sys.executable, "-m", "train.evaluate", "--task", "emotion", "--model", str(out), "--data", str(tiny_csv),
         "--usage", "PublicTest", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert evaluation.returncode == 0, evaluation.stderr[-2000:]
    report = json.loads(evaluation.stdout)
    assert evaluation.stdout.count("\n") == 1
    assert report["task"] == "emotion" and report["n"] == ROWS
    assert set(report["per_class"]) == set(EMOTIONS)
    assert {"precision", "recall", "f1", "support"} <= set(report["per_class"]["happy"])
    confusion = np.array(report["confusion"])
    assert confusion.shape == (7, 7) and confusion.sum() == ROWS
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / ROWS)
    assert report["tta"] == ["flip"]
    assert report["temperature"] == metadata["temperature"]
    assert 0 <= report["ece"] <= 1 and report["ece"] == report["calibration"]["ece"]
    assert sum(report["calibration"]["reliability"]["count"]) == ROWS
    assert sum(m["support"] for m in report["per_class"].values()) == ROWS

    # the readable report: the confusion matrix PNG and, beside it, the reliability diagram
    plots = tmp_path / "plots"
    plots.mkdir()
    readable = subprocess.run(
        [sys.executable, "-m", "train.evaluate", "--task", "emotion", "--model", str(out), "--data", str(tiny_csv),
         "--usage", "PublicTest", "--confusion-png", str(plots / "confusion.png")],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert readable.returncode == 0, readable.stderr[-2000:]
    assert "expected calibration error" in readable.stdout
    assert sorted(p.name for p in plots.iterdir()) == ["confusion.png", "reliability.png"]
    assert (plots / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_training_rejects_bad_data_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    result = subprocess.run(_train_command(bad, tmp_path / "m", tmp_path / "r", 1), cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert f"error: {bad}, row 2: field 'pixels' has 3 values, expected 2304" in result.stderr


def test_evaluate_rejects_wrong_task_and_missing_model(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "train.evaluate", "--task", "emotion", "--model", str(tmp_path), "--data", str(tmp_path),
         "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "missing model.json" in result.stderr and result.stdout == ""


def test_initial_weights_start_a_further_cycle_from_a_trained_folder(tiny_csv, tmp_path):
    """`--initial-weights DIR`: the network starts from DIR's weights (at learning rate 0 its kernels stay exactly
    those), the record names DIR with its own epochs and time; another network's folder is refused by name."""
    from core.model_folder import EMOTION_MODEL_DIR, load_keras_model

    shipped = json.loads((EMOTION_MODEL_DIR / "training.json").read_text())
    out = tmp_path / "again"
    result = subprocess.run(
        _train_command(tiny_csv, out, tmp_path / "run", 1, "--network", shipped["network"], "--learning-rate", "0",
                       "--initial-weights", str(EMOTION_MODEL_DIR)),
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"starting from the weights of {EMOTION_MODEL_DIR}" in result.stderr
    (started, _), (trained, _) = load_keras_model(EMOTION_MODEL_DIR), load_keras_model(out)
    for name in ("stage1_conv", "stage4b_conv", "probabilities"):
        for before, after in zip(started.get_layer(name).get_weights(), trained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(before, after)
    record = json.loads((out / "training.json").read_text())
    assert record["initial_weights"]["folder"] == str(EMOTION_MODEL_DIR)
    assert record["initial_weights"]["epochs"] == shipped["epochs"]
    assert f"- Started from the weights of `{EMOTION_MODEL_DIR}`: {shipped['epochs']} epochs" in (out / "TRAINING.md").read_text()

    refused = subprocess.run(
        _train_command(tiny_csv, tmp_path / "m", tmp_path / "r", 1, "--network", "seed",
                       "--initial-weights", str(EMOTION_MODEL_DIR)),
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2
    assert (f"error: --initial-weights {EMOTION_MODEL_DIR}: its network ({shipped['network']}, "
            f"{shipped['parameters']:,} parameters) is not the one being trained (seed, 2,345,607)") in refused.stderr


def test_level_eyes_trains_on_levelled_faces_and_says_so_in_the_metadata(tiny_csv, tmp_path):
    """`--level-eyes`: the faces are levelled before training (the log counts them) and the model's metadata asks the
    apps to level their crops too; `train.evaluate` then levels the faces it is given. Refused for the mask task."""
    out = tmp_path / "levelled"
    result = subprocess.run(_train_command(tiny_csv, out, tmp_path / "run", 1, "--level-eyes"), cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "levelling the eyes of 320 training faces" in result.stderr
    assert "levelling the eyes of 320 validation faces" in result.stderr
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["crop"]["level_eyes"] is True and metadata["crop"]["max_eye_roll_degrees"] == 45.0
    assert "eyes levelled" in json.loads((out / "training.json").read_text())["split"]
    evaluated = subprocess.run(
        [sys.executable, "-m", "train.evaluate", "--task", "emotion", "--model", str(out), "--data", str(tiny_csv),
         "--usage", "PublicTest", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "levelling the eyes of 320 faces" in evaluated.stderr

    refused = subprocess.run(_train_command(tiny_csv, tmp_path / "m", tmp_path / "r", 1, "--task", "mask",
                                            "--level-eyes"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert "--level-eyes is for the emotion task" in refused.stderr
