"""The browser's face labels and colours (web_static/js/draw.js, run in Node with the exported drawing constants of
web_static/models/index.json) against core/draw.py's on the same faces: expression only (no mask model), masked,
unmasked, certain and uncertain."""

from __future__ import annotations

import json
import subprocess


from core import draw
from tests.harness import REPO

SCRIPT = REPO / "tests" / "js" / "draw_dump.mjs"
INDEX = REPO / "web_static" / "models" / "index.json"


def face(emotion: str, confidence: float, mask: dict | None) -> dict:
    return {"box": [10, 20, 80, 90], "score": 0.93,
            "emotion": {"label": emotion, "scores": {emotion: confidence, "neutral": round(1 - confidence, 4)}},
            "mask": mask}


FACES = [
    face("happy", 0.8712, None),
    face("sad", 0.4051, {"label": "with_mask", "score": 0.9812}),
    face("angry", 0.999, {"label": "without_mask", "score": 0.6049}),
    face("surprise", 0.0049, {"label": "without_mask", "score": 1.0}),
    face("neutral", 0.5, {"label": "with_mask", "score": 0.5151}),
]


def test_draw_js_labels_and_colours_match_core_draw(node, tmp_path):
    drawing = json.loads(INDEX.read_text())["pipeline"]["drawing"]
    (tmp_path / "job.json").write_text(json.dumps({"faces": FACES, "drawing": drawing}))
    done = subprocess.run([node, str(SCRIPT), str(tmp_path / "job.json")], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    browser = json.loads(done.stdout)
    python = [{"label": draw.face_label(f), "color": list(draw.face_color(f))} for f in FACES]
    assert browser == python
    # the five faces give three colours and labels of one and of two lines
    assert len({tuple(entry["color"]) for entry in python}) == 3
    assert {entry["label"].count("\n") for entry in python} == {0, 1}
