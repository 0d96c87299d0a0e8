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
         "--files", "leoring123_nomask.mp4", "gituatu_mask.mp4", "intel_classroom.gif", "leoring123_0000*.jpg",
         "muxspace_A*.jpg", "--max-frames", "12", "--min-judged-side", "0", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| **bare clips, mask right** |" in done.stdout and "expression crops, macro-F1" in done.stdout
    report = json.loads(out.read_text())
    summary, raw = report["summaries"][0], report["raw"][0]
    clips = summary["videos"]
    assert set(clips) == {"leoring123_nomask.mp4", "gituatu_mask.mp4", "intel_classroom.gif"}
    assert raw["videos"]["intel_classroom.gif"]["frames"] == 12  # an animated GIF is read frame by frame
    assert clips["leoring123_nomask.mp4"]["truth"] == "bare" and clips["gituatu_mask.mp4"]["truth"] == "masked"
    # the shipped mask model on one bare and one masked clip
    assert clips["leoring123_nomask.mp4"]["right"] >= 0.9 and clips["gituatu_mask.mp4"]["right"] >= 0.9
    # a masked face's expression is not read
    assert clips["gituatu_mask.mp4"]["not_readable"] >= 0.9 * clips["gituatu_mask.mp4"]["detections"]
    photos = summary["photos"]
    labels = [line for line in (footage / "photos_labels.csv").read_text().splitlines()[1:]
              if line.startswith("photos/leoring123_0000")]
    assert photos["true_faces"] == sum(int(line.split(",")[1]) for line in labels)
    expression = summary["expression"]
    assert expression["n"] == len([p for p in (footage / "expression").rglob("muxspace_A*.jpg")]) > 5
    assert 0 <= expression["accuracy"] <= 1 and set(expression["recall"]) <= set(raw["expression"]["truth"])
