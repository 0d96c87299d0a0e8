"""The Gradio webcam tab's session panel (demo.gradio_session): its expression timeline as Chromium renders it, with
one face and with twenty (coloured marks, a legend, face labels that neither overlap nor leave the picture), and its
alerts announced in one toast at a time. The panel in the running app is checked in test_gradio_app.py."""

import numpy as np
import pytest

from core.draw import expression_colors
from core.labels import EMOTIONS
from core.session import TIMELINE_FACES, LiveSession
from demo.gradio_session import ALERT_TOAST_S, announce, timeline_svg
from demo.webcam_session import WebcamSession
from tests.harness import shared_chromium
from tests.test_session import face

RENDER_JS = """() => { const svg = document.querySelector('svg'); const box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')].map(t => { const r = t.getBoundingClientRect();
    return {text: t.textContent, left: r.left - box.left, right: r.right - box.left, top: r.top - box.top,
            bottom: r.bottom - box.top}; });
  return {width: box.width, height: box.height, texts}; }"""


def session_with_faces(count: int, seconds: float = 35.0) -> LiveSession:
    """`count` faces, each changing expression every 5 s (face k starts at expression k)."""
    session = LiveSession(EMOTIONS)
    for now in np.arange(0, seconds, 0.05):
        session.add(float(now), list(range(1, count + 1)),
                    [face(EMOTIONS[(int(now / 5) + k) % len(EMOTIONS)], None) for k in range(count)])
    return session


def coloured_pixels(image_rgb: np.ndarray, color: str, tolerance: int = 12) -> int:
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image_rgb.astype(int) - rgb).max(axis=2) < tolerance).sum())


def rendered(page, svg: str):
    """(screenshot RGB, text boxes) of the SVG as Chromium draws it in a 700 px wide panel."""
    import cv2

    page.set_content(f"<html><body style='margin:0; width:700px'>{svg}</body></html>")
    shot = cv2.imdecode(np.frombuffer(page.locator("svg").screenshot(), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(shot, cv2.COLOR_BGR2RGB), page.evaluate(RENDER_JS)


@pytest.mark.parametrize("faces", [1, 20, 25])
def test_timeline_draws_coloured_marks_per_face_with_a_legend(playwright_instance, faces):
    browser = shared_chromium(playwright_instance)
    try:
        page = browser.new_page(viewport={"width": 760, "height": 600})
        image, layout = rendered(page, timeline_svg(session_with_faces(faces)))
        empty_image, empty_layout = rendered(page, timeline_svg(None))
    finally:
        browser.close()
    texts = [t["text"] for t in layout["texts"]]
    assert all(label in texts for label in EMOTIONS)  # the legend
    colours = expression_colors()
    legend_only = {label: coloured_pixels(empty_image, colour) for label, colour in colours.items()}
    for label, colour in colours.items():  # every expression shown (each face goes through all 7 in 35 s)
        assert coloured_pixels(image, colour) > legend_only[label] + 1000, label  # marks beside the legend
    rows = [t for t in layout["texts"] if t["text"].startswith("track ")]
    assert [t["text"] for t in rows] == [f"track {k}" for k in range(1, min(faces, TIMELINE_FACES) + 1)]
    for above, below in zip(rows, rows[1:]):
        assert above["bottom"] <= below["top"] + 1, (above, below)  # readable: labels do not overlap
    assert all(0 <= t["left"] and t["right"] <= layout["width"] and t["bottom"] <= layout["height"]
               for t in layout["texts"])  # nothing clipped ("ce 1")
    assert min(t["bottom"] - t["top"] for t in rows) >= 10  # at least 10 px text
    if faces > TIMELINE_FACES:
        assert any(f"of {faces} faces" in text for text in texts)
    assert any("No face" in t["text"] for t in empty_layout["texts"])


def test_alerts_are_announced_in_one_toast_at_a_time():
    session = WebcamSession()
    for now in np.arange(0, 4, 0.05):  # three faces unmasked from the start: three alerts at once
        session.live.add(float(now), [1, 2, 3], [face("happy", "without_mask")] * 3)
    assert len(session.live.alerts) == 3
    with pytest.warns(UserWarning, match=r"ALERT: 3 faces unmasked \(faces 1, 2, 3\)"):  # gr.Warning outside an event
        assert announce(session, now=100.0) == "3 faces unmasked (faces 1, 2, 3)"
    for now in np.arange(4, 7, 0.05):
        session.live.add(float(now), [4], [face("sad", "without_mask")])
    assert len(session.live.alerts) == 4
    assert announce(session, now=100.0 + ALERT_TOAST_S / 2) is None  # the first toast is still up: it waits
    with pytest.warns(UserWarning, match="ALERT: track 4 unmasked"):
        assert announce(session, now=100.0 + ALERT_TOAST_S) == session.live.alerts[3]["text"]
    assert announce(session, now=200.0) is None  # nothing new
