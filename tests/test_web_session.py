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
from tests.harness import WEB_MODELS, camera_file_from_image, collect_errors, launch_chromium, skip_or_fail, wait_for

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
    browser = launch_chromium(playwright_instance, camera)
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
    browser = launch_chromium(playwright_instance, camera)
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
    browser = launch_chromium(playwright_instance, camera)
    try:
        page = browser.new_page()
        page.goto(web_server + "?camera=1")
        wait_for(page, "document.getElementById('fps').textContent.includes(' frames/s')")
        readout = page.locator("#fps").inner_text()
        page.click("#stop-camera")
    finally:
        browser.close()
    assert readout.startswith("camera 320x240 · ") and "less than the 640x480 asked" in readout, readout
