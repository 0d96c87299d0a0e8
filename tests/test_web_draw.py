"""The browser's face labels, colours and banners (web_static/js/draw.js, run in Node with the exported drawing
constants of web_static/models/index.json) against core/draw.py's on the same faces: expression only (no mask model),
masked (expression hidden), unmasked, certain and uncertain, head turned, too small to judge; banners with no, one and several
unmasked faces and the pipeline's note."""

from __future__ import annotations

import base64
import json
import subprocess

import cv2
import numpy as np
import pytest

from core import draw
from core.pipeline import MAX_FACES_NOTE
from tests.harness import REPO

SCRIPT = REPO / "tests" / "js" / "draw_dump.mjs"
INDEX = REPO / "web_static" / "models" / "index.json"


def face(emotion: str | None, confidence: float, mask: dict | None, too_small: bool = False,
         head_turned: bool = False) -> dict:
    """A face as core.pipeline reports it (no expression for a masked face nor a head turned too far, nothing for one
    too small to judge)."""
    return {"box": [10, 20, 80, 90], "score": 0.93,
            "emotion": emotion and {"label": emotion, "scores": {emotion: confidence, "neutral": round(1 - confidence, 4)}},
            "mask": mask, "too_small": too_small, "head_turned": head_turned}


FACES = [
    face("happy", 0.8712, None),
    face(None, 0, {"label": "with_mask", "score": 0.9812}),
    face("angry", 0.999, {"label": "without_mask", "score": 0.6049}),
    face("surprise", 0.0049, {"label": "without_mask", "score": 1.0}),
    face(None, 0, {"label": "with_mask", "score": 0.5151}),
    face(None, 0, None, too_small=True),
    face(None, 0, {"label": "without_mask", "score": 0.9551}, head_turned=True),
]
NOTE = MAX_FACES_NOTE.format(found=30, labelled=20)
BANNERS = [
    {"faces": FACES, "has_mask_model": True, "note": None},  # three unmasked faces, the turned head's too
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
        "ALERT: 3 faces without mask", f"ALERT: 1 face without mask | {NOTE}", None, NOTE]
    # numbered as the tables' "face" column, face 1 marked main
    numbered = [draw.face_label(f, i) for i, f in enumerate(FACES, start=1)]
    assert browser["numbered"] == numbered
    assert numbered[0].startswith("#1 main happy 87%") and numbered[2].startswith("#3 angry")
    tracked = [draw.face_label(f, i, 9 + i) for i, f in enumerate(FACES, start=1)]
    assert browser["tracked"] == tracked and tracked[1].startswith(f"#2 t11 {draw.HIDDEN_EXPRESSION_TEXT}\n")
    assert python[5]["label"] == draw.TOO_SMALL_TEXT
    assert python[6]["label"] == f"{draw.HEAD_TURNED_TEXT}\nno mask 96%"
    # the seven faces give four colours and labels of one and of two lines
    assert len({tuple(entry["color"]) for entry in python}) == 4
    assert {entry["label"].count("\n") for entry in python} == {0, 1}


# ---------------------------------------------------------------------------------------------------------------------
# Numbered labels on real group photos: numbers as the table's "face" column, no label over another label or face
# ---------------------------------------------------------------------------------------------------------------------

GROUP_PHOTOS = ["2008_002506.jpg", "bbt1.jpg", "two_people.jpg", "obama_and_biden.jpg"]


@pytest.fixture(scope="module")
def group_frames(media_dir):
    """(name, frame, FrameResult) of the real pipeline on the media group photos, the benchmark's six-face scene
    (three photos stacked in a 640x480 frame) and a crowd of 30 faces (the 20 largest labelled)."""
    import cv2

    from bench.pipeline_latency import SCENES, scene_frame
    from core.models import ARCHITECTURE_FILE
    from core.pipeline import FacePipeline, emotion_model_dir
    from tests.harness import read_rgb, require

    require(emotion_model_dir() / ARCHITECTURE_FILE, "expression model (train it: python -m train.train --task emotion)")
    pipeline = FacePipeline(emotion_model_dir())
    frames = [(name, read_rgb(media_dir / name)) for name in GROUP_PHOTOS]
    frames.append(("six-face scene", scene_frame(media_dir, SCENES["6 faces"])))
    face = read_rgb(media_dir / "2008_002506.jpg")[40:200, 200:340]
    row = np.concatenate([cv2.resize(face, (128, 146))] * 6, axis=1)
    frames.append(("crowd", np.concatenate([row] * 5, axis=0)))
    return [(name, frame, pipeline.process(frame)) for name, frame in frames]


def assert_clear(name, boxes, layout):
    rects = [entry["rect"] for entry in layout]
    for i, rect in enumerate(rects):
        if rect is None:
            continue
        for j, other in enumerate(rects):
            assert j == i or other is None or not draw.overlaps(rect, other), (name, i + 1, j + 1, rect, other)
        for j, box in enumerate(boxes):
            assert j == i or not draw.overlaps(rect, box), (name, "label", i + 1, "covers face", j + 1, rect, box)


def test_numbered_labels_match_the_table_and_never_overlap(group_frames, node, tmp_path):
    from demo.gradio_app import face_table

    drawing = json.loads(INDEX.read_text())["pipeline"]["drawing"]
    jobs = []
    for name, frame, result in group_frames:
        layout = draw.layout_labels(result.faces, frame.shape)
        boxes = [tuple(f["box"]) for f in result.faces]
        assert_clear(name, boxes, layout)
        # the number on each box is the table's "face" number
        table = face_table(result)
        for number, entry in zip(table["face"], layout):
            assert entry["text"].split(" ")[0] == f"#{number}", (name, number, entry["text"])
        if name != "crowd":  # every face of the photos gets its full label; the crowd may shrink or drop some
            assert all(entry["rect"] for entry in layout), (name, layout)
            assert layout[0]["text"].startswith("#1 main "), layout[0]
        jobs.append({"faces": result.faces, "frame": [frame.shape[1], frame.shape[0]]})
        # the drawn frame holds the labels where the layout puts them (filled in the face's colour)
        annotated = draw.annotate(frame, result.faces)
        for face, entry in zip(result.faces, layout):
            if entry["rect"]:
                left, top, width, height = entry["rect"]
                assert tuple(annotated[top + 1, left + 1]) == draw.face_color(face), (name, entry)
    assert sum(len(r.faces) for _, _, r in group_frames[:4]) >= 10
    (tmp_path / "job.json").write_text(json.dumps({"faces": [], "banners": [], "layouts": jobs, "drawing": drawing}))
    done = subprocess.run([node, str(SCRIPT), str(tmp_path / "job.json")], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    for (name, _, result), layout in zip(group_frames, json.loads(done.stdout)["layouts"]):
        assert_clear(f"page {name}", [tuple(f["box"]) for f in result.faces], layout)
        assert [e["text"].split(" ")[0] for e in layout] == [f"#{i}" for i in range(1, len(result.faces) + 1)]
        if name != "crowd":
            assert all(entry["rect"] for entry in layout), (name, layout)


def bare_faces(*boxes) -> list[dict]:
    return [face("happy", 0.9, {"label": "without_mask", "score": 0.9}) | {"box": list(box)} for box in boxes]


# Bare faces on a black 640x480 frame. Spread: one at the top edge (no room above: its label goes under its chin), one
# with room above, one whose space above is another face's box (its label goes below, not over its own eyes).
# Stacked: three faces one above the other with no room between them (the middle one's label has no place outside
# its box: it is left out, never drawn over the face).
SPREAD = bare_faces([40, 4, 140, 150], [300, 150, 120, 130], [480, 200, 120, 120], [480, 60, 120, 138])
STACKED = bare_faces([250, 10, 120, 100], [250, 112, 120, 100], [250, 214, 120, 100])
PAGE_LABELS_JS = """async (faces) => {
  const {drawFaces, pageLabelLayout} = await import('/js/draw.js');
  const drawing = (await (await fetch('/models/index.json')).json()).pipeline.drawing;
  const canvas = document.createElement('canvas');
  canvas.width = 640; canvas.height = 480;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 640, 480);
  drawFaces(ctx, faces, drawing, {hasMaskModel: true});
  const textWidth = (text, px) => { ctx.font = `${px}px system-ui, sans-serif`; return ctx.measureText(text).width; };
  const layout = pageLabelLayout(faces, drawing, [640, 480], textWidth);
  return {layout, png: canvas.toDataURL('image/png')};  // lossless, and a fraction of a pixel array's JSON
}"""


def assert_labels_outside_their_faces(where, faces, layout, image_rgb):
    """No label over any face, its own included; the inside of every box untouched (the frame is black)."""
    for face_, entry in zip(faces, layout):
        x, y, w, h = face_["box"]
        if entry["rect"]:
            left, top, width, height = entry["rect"]
            assert top + height <= y or top >= y + h, (where, "label over its own face", face_["box"], entry)
            assert not any(draw.overlaps(entry["rect"], other["box"]) for other in faces), (where, entry)
        inside = image_rgb[y + 6:y + h - 6, x + 6:x + w - 6]
        assert inside.max() == 0, (where, "something drawn inside the face", face_["box"])


def assert_above_else_below(where, layout):
    top_edge, free, under_another = (entry["rect"] for entry in layout[:3])
    assert top_edge and top_edge[1] >= 4 + 150, (where, "top-edge face: label below its box", top_edge)
    assert free and free[1] + free[3] <= 150, (where, "label above the box", free)
    assert under_another and under_another[1] >= 200 + 120, (where, "no room above (another face): below",
                                                              under_another)


def test_labels_go_above_the_face_else_below_never_over_it_in_python_and_in_the_page(web_server, playwright_instance):
    """The placement rule of core/draw.py and web_static/js/draw.js (the page's own module in Chromium, measuring
    with its canvas font): above the box; at the top edge, or with another face above, below the box; never inside a
    face's box (the README: labels never cover a face)."""
    from tests.harness import shared_chromium

    frame = np.zeros((480, 640, 3), np.uint8)
    browser = shared_chromium(playwright_instance)
    try:
        page = browser.new_page()
        page.goto(web_server)
        for faces in (SPREAD, STACKED):
            layout = draw.layout_labels(faces, frame.shape)
            assert_labels_outside_their_faces("core/draw.py", faces, layout, draw.annotate(frame, faces))
            page_result = page.evaluate(PAGE_LABELS_JS, faces)
            png = np.frombuffer(base64.b64decode(page_result["png"].split(",", 1)[1]), np.uint8)
            pixels = cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            assert pixels.shape == (480, 640, 3) and pixels.any(), "the page drew nothing"
            assert_labels_outside_their_faces("draw.js", faces, page_result["layout"], pixels)
            if faces is SPREAD:
                assert_above_else_below("core/draw.py", layout)
                assert_above_else_below("draw.js", page_result["layout"])
    finally:
        browser.close()
