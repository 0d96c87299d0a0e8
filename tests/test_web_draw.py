"""The browser's face labels, colours and banners (web_static/js/draw.js, run in Node with the exported drawing
constants of web_static/models/index.json) against core/draw.py's on the same faces: expression only (no mask model),
masked, unmasked, certain and uncertain; banners with no, one and several unmasked faces and the pipeline's note."""

from __future__ import annotations

import json
import subprocess


from core import draw
from core.pipeline import MAX_FACES_NOTE
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
NOTE = MAX_FACES_NOTE.format(found=30, labelled=20)
BANNERS = [
    {"faces": FACES, "has_mask_model": True, "note": None},  # two unmasked faces
    {"faces": FACES[:3], "has_mask_model": True, "note": NOTE},  # one, and the note
    {"faces": FACES[:2], "has_mask_model": True, "note": None},  # none: no banner
    {"faces": FACES[:1], "has_mask_model": False, "note": NOTE},  # the note alone
]


def test_draw_js_labels_colours_and_banners_match_core_draw(node, tmp_path):
    drawing = json.loads(INDEX.read_text())["pipeline"]["drawing"]
    (tmp_path / "job.json").write_text(json.dumps({"faces": FACES, "banners": BANNERS, "drawing": drawing}))
    done = subprocess.run([node, str(SCRIPT), str(tmp_path / "job.json")], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    browser = json.loads(done.stdout)
    python = [{"label": draw.face_label(f), "color": list(draw.face_color(f))} for f in FACES]
    assert browser["faces"] == python
    banners = [draw.banner_text(b["faces"], b["has_mask_model"], b["note"]) for b in BANNERS]
    assert browser["banners"] == [{"text": text, "color": list(color)} for text, color in banners]
    assert [text for text, _ in banners] == [
        "ALERT: 2 faces without mask", f"ALERT: 1 face without mask | {NOTE}", None, NOTE]
    # the five faces give three colours and labels of one and of two lines
    assert len({tuple(entry["color"]) for entry in python}) == 3
    assert {entry["label"].count("\n") for entry in python} == {0, 1}
