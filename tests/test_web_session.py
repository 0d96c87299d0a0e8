"""The page's live-session analytics in a real headless Chromium with a fake camera (web_static/js/session.js and
tracking.js on the page's own camera loop): two bare faces, unmasked for more than the alert's minimum duration,
raise exactly one alert each; the session CSV downloads with one row per tracked face per sample and no image data;
"Reset session" clears it. The camera waits for a click, and the session panel is the camera's. (The twin's
arithmetic against core.session: tests/test_session.py.)"""

from __future__ import annotations

import csv
import io
import time

from core.labels import EMOTIONS
from core.session import ALERT_AFTER_S, SAMPLE_EVERY_S, csv_header
from tests.harness import WEB_MODELS, camera_file_from_image, collect_errors, shared_chromium, skip_or_fail, wait_for

PHOTO = "two_people.jpg"  # two bare faces (tests/harness.py MEDIA_FACES)
MAX_FIELD_CHARS = 32  # a CSV field holding an image (base64, pixel lists) would be far longer


def alerts_of(page) -> list[dict]:
    return page.evaluate("() => [...document.querySelectorAll('#session-alerts li')]"
                         ".map(li => ({track: li.dataset.track, text: li.textContent}))")


def test_unmasked_faces_raise_one_alert_each_and_the_session_csv_downloads(web_server, media_dir, playwright_instance,
                                                                          tmp_path):
    if not (WEB_MODELS / "mask" / "metadata.json").is_file():
        skip_or_fail("no mask bundle in web_static/models (python -m export --all)")
    camera = camera_file_from_image(media_dir / PHOTO, tmp_path)
    browser = shared_chromium(playwright_instance, camera)
    try:
        page = browser.new_page(accept_downloads=True)
        errors = collect_errors(page)
        page.goto(web_server + "?camera=1")
        wait_for(page, "document.querySelectorAll('#session-alerts li').length >= 2", timeout=120)
        assert page.locator("#alert-after").input_value() == f"{ALERT_AFTER_S:g}"  # the setting's default
        first = alerts_of(page)
        time.sleep(2 * ALERT_AFTER_S + 1)  # the faces stay unmasked: no further alert
        alerts = alerts_of(page)
        assert alerts == first, (first, alerts)
        summary = page.evaluate("() => window.pageState.session.summary()")
        assert summary["faces"] == 2 and summary["unmasked_faces"] == 2, summary
        assert sorted(a["track"] for a in alerts) == ["1", "2"]  # exactly one per face
        assert all(f"unmasked for \u2265 {ALERT_AFTER_S:g} s" in a["text"] for a in alerts), alerts
        assert "2 face(s) seen, 2 unmasked" in page.locator("#session-summary").inner_text()
        assert page.evaluate("() => window.pageState.session.timeline().length") > 0

        with page.expect_download() as download:
            page.locator("#session-csv").click()
        path = tmp_path / "session.csv"
        download.value.save_as(path)
        assert download.value.suggested_filename.endswith(".csv")
        text = path.read_text()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == csv_header(EMOTIONS)
        body = rows[1:]
        assert len(body) >= 2 * (2 * ALERT_AFTER_S + 1) / SAMPLE_EVERY_S * 0.5  # sampled all along
        by_time: dict[str, list[str]] = {}
        for row in body:
            assert len(row) == len(rows[0])
            by_time.setdefault(row[0], []).append(row[1])
        assert all(sorted(tracks) == ["1", "2"] for tracks in by_time.values()), by_time  # one row per face per sample
        assert {row[-2] for row in body} == {"without_mask"}
        assert max(len(field) for row in body for field in row) <= MAX_FIELD_CHARS  # no image data
        assert "data:" not in text and "base64" not in text

        page.locator("#stop-camera").click()
        page.locator("#session-reset").click()
        assert alerts_of(page) == []
        assert page.evaluate("() => window.pageState.session.summary().samples") == 0
        assert "No face seen yet" in page.locator("#session-summary").inner_text()
        assert not errors, errors
    finally:
        browser.close()


def test_the_camera_waits_for_a_click_and_its_session_panel_leaves_with_an_upload(web_server, media_dir,
                                                                                 playwright_instance, tmp_path):
    """The page does not start the camera by itself; "Start camera" does, and the readout says the resolution
    received and no frames/s before there is a second to count, nor after "Stop camera"; an uploaded photo hides
    the camera's session panel, the camera brings it back."""
    camera = camera_file_from_image(media_dir / PHOTO, tmp_path)
    browser = shared_chromium(playwright_instance, camera)
    try:
        page = browser.new_page()
        errors = collect_errors(page)
        page.goto(web_server)
        wait_for(page, "window.pageState && window.pageState.ready")
        time.sleep(1)
        assert page.evaluate("() => window.pageState.camera") == "off"  # no camera light without a click
        assert page.evaluate("() => window.lastResult") is None
        assert "Start camera" in page.locator("#status").inner_text()
        page.evaluate("""() => { window.__readouts = []; const box = document.getElementById('fps');
          new MutationObserver(() => window.__readouts.push(box.textContent)).observe(box, {childList: true,
            characterData: true, subtree: true}); }""")
        page.click("#start-camera")
        wait_for(page, "window.lastResult && window.lastResult.source === 'camera' && window.pageState.frame >= 5")
        wait_for(page, "document.getElementById('fps').textContent.includes(' frames/s')")
        assert page.locator("#session").is_visible()
        readouts = page.evaluate("() => window.__readouts")
        page.click("#stop-camera")
        assert "frames/s" not in page.locator("#fps").inner_text()

        page.locator("#upload").set_input_files(str(media_dir / PHOTO))
        wait_for(page, "window.lastResult && window.lastResult.source === 'image'")
        assert not page.locator("#session").is_visible()
        page.click("#start-camera")
        wait_for(page, "window.pageState.camera === 'on'")
        assert page.locator("#session").is_visible()
        page.click("#stop-camera")
        assert not errors, errors
    finally:
        browser.close()
    assert readouts[0].startswith("camera 640x480 · measuring"), readouts  # not "0 frames/s"
    assert not any(text.endswith(" 0 frames/s") for text in readouts), readouts


def test_the_readout_notes_a_camera_smaller_than_asked(web_server, media_dir, playwright_instance, tmp_path):
    """A camera that gives 320x240 where the page asks 640x480: the readout says the size and that it is less."""
    camera = camera_file_from_image(media_dir / PHOTO, tmp_path, size=(320, 240))
    browser = shared_chromium(playwright_instance, camera)
    try:
        page = browser.new_page()
        page.goto(web_server + "?camera=1")
        wait_for(page, "document.getElementById('fps').textContent.includes(' frames/s')")
        readout = page.locator("#fps").inner_text()
        page.click("#stop-camera")
    finally:
        browser.close()
    assert readout.startswith("camera 320x240 · ") and "less than the 640x480 asked" in readout, readout


def test_the_page_timeline_draws_each_face_in_its_expression_colour_up_to_the_row_limit(web_server,
                                                                                       playwright_instance):
    """The page's timeline (js/session.js drawTimeline, on the page's own canvas): one row per face, as many rows as
    the Gradio app's (TIMELINE_FACES, the canvas growing with them), each mark in core.draw.expression_colors'
    colour of its expression."""
    from core.draw import expression_colors
    from core.session import TIMELINE_FACES

    browser = shared_chromium(playwright_instance)
    try:
        page = browser.new_page()
        errors = collect_errors(page)
        page.goto(web_server + "?camera=0")
        wait_for(page, "window.pageState && window.pageState.ready")
        drawn = page.evaluate("""async faces => {
          const {drawTimeline} = await import('./js/session.js');
          const index = await (await fetch('models/index.json')).json();
          const constants = index.pipeline.session;
          const labels = Object.keys(constants.timeline_colors);
          const points = [];  // every face seen for 10 s, face k always with expression k mod 7, full probability
          for (let t = 0; t < 10; t += 0.25) {
            for (let k = 1; k <= faces; k++) points.push([t, k, labels[k % labels.length], 1]);
          }
          const session = {timeline: () => points, labels, constants, sampleEveryS: 0.25};
          const canvas = document.getElementById('session-timeline');
          drawTimeline(canvas, session);
          const ctx = canvas.getContext('2d');
          const legend = 13 * Math.ceil(labels.length / 4) + 2;
          const rows = Math.min(faces, constants.timeline_faces);
          const rowH = (canvas.height - legend - 4) / rows;
          // the colour in the middle of each row, at the right end (the latest marks)
          const colours = [];
          for (let r = 0; r < rows; r++) {
            const [red, green, blue] = ctx.getImageData(canvas.width - 6, Math.round(legend + r * rowH + rowH / 2), 1, 1).data;
            colours.push([red, green, blue]);
          }
          return {height: canvas.height, rows, colours, labels};
        }""", 25)
        assert drawn["rows"] == TIMELINE_FACES
        assert drawn["height"] >= TIMELINE_FACES * 12  # the canvas grew: rows stay readable
        palette = expression_colors()
        labels = drawn["labels"]
        for row, colour in enumerate(drawn["colours"]):
            face = 25 - TIMELINE_FACES + 1 + row  # the faces seen last, in order
            expected = palette[labels[face % len(labels)]]
            rgb = [int(expected[i:i + 2], 16) for i in (1, 3, 5)]
            assert max(abs(a - b) for a, b in zip(colour, rgb)) <= 2, (row, colour, expected)
        assert not errors, errors
    finally:
        browser.close()
