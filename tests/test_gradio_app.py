"""The Gradio app as users and tools meet it: one real server for the module (python app.py), gradio_client on the
plain `predict_image` endpoint, a real headless Chromium with a fake camera on the webcam tab, bad inputs, and the
temp dir left without streamed frames."""

import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from core import draw
from core.labels import EMOTIONS
from core.models import ARCHITECTURE_FILE
from core.pipeline import MAX_FACES_PHOTO, emotion_model_dir, mask_model_dir
from tests.harness import (
    camera_file_from_image,
    collect_errors,
    free_port,
    launch_chromium,
    open_image_stream,
    require,
    shared_chromium,
    shown_pixels,
    start_server,
    start_webrtc,
    stop_server,
)

FRAME_TTL_S = 2  # shorter than the app's default so the test waits less
CLEAN_EVERY_S = 3  # demo.gradio_temp.CLEAN_EVERY_S
IMAGE_SUFFIXES = {".webp", ".png", ".jpg", ".jpeg"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require(emotion_model_dir() / ARCHITECTURE_FILE, "expression model")
    folder = tmp_path_factory.mktemp("gradio")
    port = free_port()
    process = start_server(["--port", str(port)], port, folder / "server.log",
                           env={"GRADIO_TEMP_DIR": "", "FACEXP_FRAME_TTL_S": str(FRAME_TTL_S)})  # "": the app makes its own
    (temp_dir,) = Path(tempfile.gettempdir()).glob(f"facexp-gradio-{process.pid}-*")  # the app's private temp dir
    yield {"url": f"http://127.0.0.1:{port}/", "temp_dir": temp_dir, "process": process, "log": folder / "server.log"}
    stop_server(process)


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    from gradio_client import Client

    return Client(server["url"], verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def call_predict_image(client, path):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/predict_image")


def read_rgb(path):
    import cv2

    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def box_pixels(image_rgb, tolerance=40) -> int:
    """How many pixels have one of the box colours."""
    colors = [draw.COLOR_NO_MASK_MODEL, draw.COLOR_WITH_MASK, draw.COLOR_WITHOUT_MASK]
    image = image_rgb.astype(int)
    return int(sum((np.abs(image - np.array(c)).max(axis=2) < tolerance).sum() for c in colors))


def shown_box_pixels(page, timeout_s: float = 30.0) -> int:
    """box_pixels of what the WebRTC <video> shows, once it shows boxes, or of the last look after timeout_s. On a loaded
    machine the readout (sent on the data channel) can move on while the <video> has no decoded frame to draw yet: a
    black picture (it failed so twice in full runs, once per check of the two-session test)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pixels = box_pixels(shown_pixels(page))
        if pixels > 300 or time.monotonic() > deadline:
            return pixels
        time.sleep(0.5)


def test_predict_image_from_gradio_client(client, media_dir):
    annotated_path, chart, table, faces_json, text = call_predict_image(client, media_dir / "two_people.jpg")
    assert len(faces_json["faces"]) == 2
    assert "2 face(s)" in text
    assert chart["label"] == faces_json["faces"][0]["emotion"]["label"]
    assert table["headers"][:2] == ["face", "box [x, y, w, h]"], table["headers"]  # a photo has no track column
    mask_column = [row[table["headers"].index("mask")] for row in table["data"]]
    assert set(mask_column) <= {draw.MASK_TEXT, draw.NO_MASK_TEXT} and mask_column, mask_column  # the boxes' words
    annotated, original = read_rgb(annotated_path), read_rgb(media_dir / "two_people.jpg")
    assert annotated.shape == original.shape
    assert box_pixels(annotated) > box_pixels(original) + 500


CONCURRENT_CALLERS, CALLS_EACH = 6, 3


def test_concurrent_callers_of_the_same_image_all_get_it_whole(server, media_dir, tmp_path):
    """Callers sending the same photo at once get identical outputs, which Gradio stores under one name;
    rewritten in place, a download could catch it empty or short ("peer closed connection without sending complete
    message body"). Every answer must arrive, complete and the same."""
    import threading

    from gradio_client import Client, handle_file

    photo, results, errors = media_dir / "2008_002506.jpg", [], []

    def caller(index):
        try:
            client = Client(server["url"], verbose=False, download_files=str(tmp_path / str(index)))
            for _ in range(CALLS_EACH):
                annotated, *_ = client.predict(handle_file(str(photo)), api_name="/predict_image")
                results.append(Path(annotated).read_bytes())
        except Exception as error:  # noqa: BLE001 (each failure is the finding)
            errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(CONCURRENT_CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert len(results) == CONCURRENT_CALLERS * CALLS_EACH
    assert len(set(results)) == 1 and len(results[0]) > 10_000  # all the same, whole JPEG
    assert results[0][-2:] == b"\xff\xd9"  # the JPEG end marker: not cut short


def test_image_examples_label_their_faces(client, tmp_path):
    """The Image tab's examples (scikit-image's public-domain photos, made as the app makes them): one face each, the
    two-face example two numbered faces, the astronaut bare and happy. (The cameraman, a grey photo with a camera held
    to his face, is called masked at 62 % by the mask model shipped on 2026-12-03, so his expression is hidden: a known
    miss, said in README.)"""
    from demo.gradio_examples import example_images

    found = {}
    for path in example_images(tmp_path):
        _, _, _, faces_json, _ = call_predict_image(client, path)
        found[Path(path).name] = faces_json["faces"]
    assert {name: len(faces) for name, faces in found.items()} == {
        "astronaut.png": 1, "cameraman.png": 1, "astronaut_pair.png": 2}, found
    for face in found["astronaut.png"] + found["astronaut_pair.png"]:
        assert face["mask"]["label"] == "without_mask" and face["emotion"]["label"] == "happy", face


def test_bad_inputs_give_a_clear_message_and_the_server_stays_up(client, server, media_dir, tmp_path):
    import cv2
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    (tmp_path / "notes.png").write_text("not an image")
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    with pytest.raises(AppError, match="not a readable image"):
        call_predict_image(client, tmp_path / "notes.png")
    with pytest.raises(AppError, match="1x1 pixels"):
        call_predict_image(client, tmp_path / "tiny.png")
    with pytest.raises(AppError, match="cannot be opened as a video"):
        client.predict(handle_file(str(tmp_path / "corrupt.mp4")), True, api_name="/predict_video")
    log = wait_for_log(server, "corrupt.mp4")  # the terminal: one line per user error, no traceback, no noise
    errors = [line for line in log.splitlines() if "user error:" in line]
    assert [any(name in line for line in errors) for name in ("notes.png", "tiny.png", "corrupt.mp4")] == [True] * 3
    assert "Traceback" not in log and "httpx" not in log and "share=True" not in log, log[-3000:]

    happy = cv2.imread(str(media_dir / "happy.jpg"))
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(happy, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(tmp_path / "gray.png"), cv2.cvtColor(happy, cv2.COLOR_BGR2GRAY))
    big = np.zeros((4000, 6000, 3), np.uint8)
    big[:3384, :6000] = cv2.resize(happy, (6000, 3384))
    cv2.imwrite(str(tmp_path / "big.jpg"), big)
    face = cv2.resize(cv2.imread(str(media_dir / "2008_002506.jpg"))[40:200, 200:340], (128, 146))
    cv2.imwrite(str(tmp_path / "crowd.png"), np.concatenate([np.concatenate([face] * 9, axis=1)] * 8, axis=0))
    for name in ("rgba.png", "gray.png", "big.jpg"):
        assert len(call_predict_image(client, tmp_path / name)[3]["faces"]) == 1, name
    _, _, _, faces_json, text = call_predict_image(client, tmp_path / "crowd.png")  # 72 faces in a photo
    assert len(faces_json["faces"]) == MAX_FACES_PHOTO and "72 faces found; the 64 largest are labelled" in text
    assert server["process"].poll() is None


@pytest.fixture(scope="module")
def video_result(client, media_dir):
    from gradio_client import handle_file

    video, csv_path, plot, track, text = client.predict(handle_file(str(media_dir / "short_hamilton_clip.mp4")), True,
                                                        api_name="/predict_video")
    return (video if isinstance(video, str) else video["video"]), csv_path, plot, track, text


def plot_data(plot) -> list:
    return plot["value"]["data"] if "value" in plot else plot["data"]


def test_video_tab_gives_annotated_video_csv_and_plot(video_result):
    import csv

    import cv2

    video_path, csv_path, plot, _, text = video_result
    assert str(video_path).endswith(".mp4")
    capture = cv2.VideoCapture(str(video_path))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert frames >= 270  # the clip has 275 frames
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    assert len({row["frame"] for row in rows}) > 100 and "p_happy" in rows[0]
    assert "275 frames" in text
    assert len(plot_data(plot)) > 100 * 7  # the followed track's 7 probabilities per frame


def test_video_plot_follows_one_track_longest_first_and_counts_as_the_csv(video_result, client):
    import csv

    _, csv_path, plot, track, text = video_result
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    lengths = {}
    for row in rows:
        lengths[row["track"]] = lengths.get(row["track"], 0) + 1
    # smoothing on: every face has a track, but its first frames (core.tracking.MIN_TRACK_FRAMES), a flicker of the
    # detector or a weak detection on its own have no track id yet (58 of the clip's 415 faces)
    unconfirmed = lengths.pop("", 0)
    assert len(lengths) >= 2 and unconfirmed < len(rows) / 4, (unconfirmed, lengths)
    longest = max(lengths, key=lengths.get)
    choices = [value for _, value in track["choices"]]
    assert [lengths[value] for value in choices] == sorted(lengths.values(), reverse=True)  # longest first
    assert track["value"] == choices[0] == longest and f"track {longest}" in text
    # the plot is that track alone: 7 probabilities for each CSV row of it with an expression (a head turned too far
    # has none: core.pipeline.expression_readable), times as in the CSV
    read = {value: sum(row["track"] == value and row["emotion"] != "" for row in rows) for value in lengths}
    data = plot_data(plot)
    assert len(data) == 7 * read[longest] and read[longest] > lengths[longest] / 2
    times = sorted({float(row["time_s"]) for row in rows if row["track"] == longest and row["emotion"]})
    assert sorted({point["time_s"] if isinstance(point, dict) else point[0] for point in data}) == times
    # the CSV's face numbers are the table's (1 = main face), one face 1 per frame with faces
    frames_with_faces = {row["frame"] for row in rows}
    assert sorted(row["frame"] for row in rows if row["face"] == "1") == sorted(frames_with_faces)
    # another track, picked in the dropdown
    other = min(lengths, key=lengths.get)
    from gradio_client import handle_file

    other_plot = client.predict(handle_file(csv_path), other, api_name="/video_track_plot")
    assert len(plot_data(other_plot)) == 7 * read[other] and lengths[other] < lengths[longest]


def test_annotated_video_plays_in_chromium(video_result, playwright_instance, tmp_path):
    page_file = tmp_path / "video.html"
    page_file.write_text(f'<video id="v" src="file://{video_result[0]}" muted></video>')
    browser = shared_chromium(playwright_instance)
    try:
        page = browser.new_page()
        page.goto(f"file://{page_file}")
        page.wait_for_function("document.getElementById('v').readyState >= 2", timeout=30_000)
        duration, width = page.evaluate("[document.getElementById('v').duration, document.getElementById('v').videoWidth]")
    finally:
        browser.close()
    assert 9 < duration < 11 and width == 640  # the 10 s, 640x360 clip


VIDEO_SHOWN_JS = """() => { const v = document.querySelector('#video-output video');
  return v && v.readyState >= 2 ? {width: v.videoWidth, height: v.videoHeight, duration: v.duration, src: v.src,
                                   error: v.error && v.error.message} : null; }"""
CLIP_1080P_FRAMES = 100  # 4 s at 25 frames/s


def test_video_tab_in_chromium_reports_progress_as_it_goes_and_plays_a_1080p_clip_as_720p_mp4(
        server, media_dir, playwright_instance, tmp_path):
    """Before: a 1080p clip took 15x its duration, its status sat at "frame 1 of 105" for seconds, and the output
    was a 16 MB full-size WebM. In the page: upload a 1080p clip (a media photo of four faces, panned), "Label every
    frame"; the status line reports frame after frame while the run goes on (read every 0.2 s), and the annotated
    video is an MP4 at display size (1280x720) that plays in the tab's own player, boxes drawn. The output CSV is no
    upload area before the run."""
    from core.video import VideoWriter
    from tests.test_video import panned_frames

    with VideoWriter(tmp_path / "street_1080p.mp4", 25.0, max_width=1920) as clip:
        for frame in panned_frames(media_dir / "bbt1.jpg", 1920, 1080, CLIP_1080P_FRAMES):
            clip.write(frame)
    browser = shared_chromium(playwright_instance)
    try:
        page = browser.new_page()
        page.goto(server["url"])
        page.get_by_role("tab", name="Video").click()
        page.locator("#video-input input[type=file]").set_input_files(str(clip.path))
        page.locator("#video-input video").wait_for(timeout=30_000)  # the upload is in
        assert page.locator("#video-csv").is_visible()
        assert page.locator("#video-csv input[type=file]").count() == 0  # the output CSV is no upload area
        page.get_by_role("button", name="Label every frame").click()
        reported, done = [], f"{CLIP_1080P_FRAMES} frames,"
        for _ in range(3000):  # at most 10 minutes
            text = page.locator("#video-summary").inner_text()
            found = re.search(rf"frame (\d+) of {CLIP_1080P_FRAMES}", text)
            if found and (not reported or reported[-1] != int(found.group(1))):
                reported.append(int(found.group(1)))
            if done in text:
                break
            page.wait_for_timeout(200)
        assert done in text, text
        shown = None
        for _ in range(150):
            shown = page.evaluate(VIDEO_SHOWN_JS)
            if shown:
                break
            page.wait_for_timeout(200)
        assert shown and shown["error"] is None, shown
        page.evaluate("() => document.querySelector('#video-output video').play()")
        page.wait_for_function("document.querySelector('#video-output video').currentTime > 1", timeout=30_000)
        page.evaluate("() => document.querySelector('#video-output video').pause()")
        pixels = shown_pixels(page, "#video-output video")
    finally:
        browser.close()
    assert len(reported) >= 3 and reported == sorted(reported) and reported[0] < CLIP_1080P_FRAMES // 3, reported
    assert shown["src"].endswith("_annotated.mp4"), shown
    assert (shown["width"], shown["height"]) == (1280, 720) and 3.9 < shown["duration"] < 4.1, shown
    assert box_pixels(pixels) > 1000  # boxes and labels drawn, and decoded by the browser


def frames_left_on_disk(server, since: float, uploads: tuple[str, ...] = ()) -> list[Path]:
    """Shown images newer than `since` still in the app's temp dir, once its cleaner has had time to run (`uploads`:
    names of files the test uploaded itself, which are kept 15 minutes like any upload)."""
    time.sleep(FRAME_TTL_S + CLEAN_EVERY_S + 1)
    return [p for p in server["temp_dir"].rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            and p.stat().st_mtime >= since and "examples" not in p.parts and p.name not in uploads]


def test_webcam_over_webrtc_in_headless_chromium(server, media_dir, playwright_instance, tmp_path):
    """The webcam tab's main view: "Start camera" sends the fake camera over WebRTC, the annotated video comes back
    into the page with boxes drawn, and the timer brings the readout and the face table; Stop ends it; no frame is
    written to disk."""
    camera = camera_file_from_image(media_dir / "two_people.jpg", tmp_path)
    browser = shared_chromium(playwright_instance, camera)
    started = time.time()
    try:
        page = browser.new_page()
        page.goto(server["url"])
        start_webrtc(page)
        page.wait_for_function("document.querySelector('#webcam-readout').innerText.includes('2 face(s)')", timeout=60_000)
        page.wait_for_timeout(2000)
        readout = page.locator("#webcam-readout").inner_text()
        fps = float(re.search(r"([\d.]+) frames/s", readout).group(1))
        annotated = shown_pixels(page)  # the pixels the browser received and shows
        ids, table = track_ids(page)
        assert page.inner_text("#webrtc-state") == "connected"
        page.click("#webrtc-stop")
        page.wait_for_function("document.querySelector('#webcam-readout').innerText.includes('Camera stopped')",
                               timeout=10_000)
        page.wait_for_timeout(2500)  # frames in flight and timer ticks after Stop do not bring frames/s back
        stopped = page.locator("#webcam-readout").inner_text()
        assert page.inner_text("#webrtc-state") == "stopped"
        assert page.evaluate("document.getElementById('webrtc-video').srcObject") is None
    finally:
        browser.close()
    assert annotated.shape[:2] == (480, 640)
    assert box_pixels(annotated) > 500  # boxes and labels were drawn
    assert fps > 1, readout
    assert "camera 640x480" in readout and "less than" not in readout, readout
    assert "frames/s" not in stopped and "Camera stopped" in stopped, stopped
    assert ids and set(ids) <= {"1", "2"}, table  # the tracker numbers the two faces 1 and 2
    assert frames_left_on_disk(server, started) == []


def test_webcam_readout_says_the_camera_resolution_received_and_when_it_is_low(server, media_dir, playwright_instance,
                                                                              tmp_path):
    """A camera that gives 320x240 where 640x480 is asked (as WebRTC gives under load): the readout says the size it
    receives and a visible note says it is less than asked; the first readout never says "0.0 frames/s"."""
    camera = camera_file_from_image(media_dir / "two_people.jpg", tmp_path, size=(320, 240))
    browser = shared_chromium(playwright_instance, camera)
    try:
        page = browser.new_page()
        page.goto(server["url"])
        page.wait_for_selector("#webcam-readout")
        page.evaluate("""() => { window.__readouts = []; const box = document.querySelector('#webcam-readout');
          new MutationObserver(() => window.__readouts.push(box.innerText)).observe(box, {subtree: true,
            childList: true, characterData: true}); }""")
        start_webrtc(page)
        page.wait_for_function("document.querySelector('#webcam-readout').innerText.includes('camera 320x240')",
                               timeout=60_000)
        note = page.locator("#webcam-readout strong")
        note.wait_for(timeout=10_000)
        assert note.is_visible() and "less than the 640x480 asked" in note.inner_text()
        readouts = page.evaluate("() => window.__readouts")
        page.click("#webrtc-stop")
    finally:
        browser.close()
    assert readouts and not any("0.0 frames/s" in text for text in readouts), readouts


def test_image_stream_fallback_in_headless_chromium(server, media_dir, playwright_instance, tmp_path):
    """The webcam tab's fallback (frames as image uploads, gr.Image streaming) still labels the camera, into the same
    readout; its shown frames do not stay on disk; a 1x1 image on the Image tab gets a clear message."""
    camera = camera_file_from_image(media_dir / "two_people.jpg", tmp_path)
    browser = shared_chromium(playwright_instance, camera)
    try:
        page = browser.new_page()
        page.goto(server["url"])
        open_image_stream(page)
        page.wait_for_timeout(500)
        started = time.time()
        page.locator('[aria-label="capture photo"]').first.click()  # start streaming
        page.wait_for_selector("#webcam-output img", timeout=30_000)
        page.wait_for_function("document.querySelector('#webcam-readout').innerText.includes('2 face(s)')", timeout=30_000)
        page.wait_for_timeout(2000)
        readout = page.locator("#webcam-readout").inner_text()
        fps = float(re.search(r"([\d.]+) frames/s", readout).group(1))
        annotated = shown_pixels(page, "#webcam-output img")  # the pixels the browser received and shows
        page.locator('[aria-label="capture photo"]').first.click()  # stop
        assert annotated.shape[:2] == (480, 640)
        assert box_pixels(annotated) > 500  # boxes and labels were drawn
        assert fps > 1, readout

        # The 1x1 image gets a clear message in the UI.
        import cv2

        page.get_by_role("tab", name="Image").click()
        cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
        page.locator("#image-input input[type=file]").set_input_files(str(tmp_path / "tiny.png"))
        page.get_by_role("button", name="Label the faces").click()
        page.get_by_text("1x1 pixels").first.wait_for(timeout=30_000)
    finally:
        browser.close()
    assert frames_left_on_disk(server, started, uploads=("tiny.png",)) == []  # streamed frames do not stay on disk


@pytest.mark.parametrize("camera", ["denied", "none"])
def test_webcam_without_camera_says_why(server, media_dir, playwright_instance, tmp_path, camera):
    """Chromium with a (fake) camera whose permission is refused, or with camera permission but no camera device at
    all (this machine has none): the Webcam tab says so, in the words of demo.gradio_head.CAMERA_ERRORS."""
    from demo.gradio_head import CAMERA_ERRORS

    if camera == "denied":
        browser = shared_chromium(playwright_instance, camera_file_from_image(media_dir / "two_people.jpg", tmp_path),
                                  allow_camera=False)
    else:
        browser = shared_chromium(playwright_instance)
    try:
        context = browser.new_context(permissions=["camera"] if camera == "none" else [])
        page = context.new_page()
        page.goto(server["url"])
        page.click("#webrtc-start")
        page.wait_for_selector("#webcam-camera-error:not(:empty)", timeout=30_000)
        message = page.locator("#webcam-camera-error").inner_text()
        assert page.locator("#webcam-camera-error").is_visible()
        page.wait_for_function("document.querySelector('#webcam-readout').innerText.includes('did not start')",
                               timeout=30_000)
        assert page.inner_text("#webrtc-state") == "no camera"
    finally:
        browser.close()
    assert message == CAMERA_ERRORS["NotAllowedError" if camera == "denied" else "NotFoundError"]


TRACK_IDS_JS = """() => { const table = document.querySelector('#webcam-table');
  return {headers: [...table.querySelectorAll('thead th')].map(th => th.textContent.trim()),
          rows: [...table.querySelectorAll('tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()))}; }"""


def track_ids(page) -> list[str]:
    """The `track` column of the webcam tab's face table, as the page shows it."""
    table = page.evaluate(TRACK_IDS_JS)
    column = next(i for i, text in enumerate(table["headers"]) if text.startswith("track"))
    offset = len(table["rows"][0]) - len(table["headers"]) if table["rows"] else 0  # a leading row-number cell, if any
    return sorted(row[column + offset] for row in table["rows"] if any(row)), table


def wait_for_log(server, text: str, timeout_s: float = 30) -> str:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        log = server["log"].read_text()
        if text in log:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in the server log after {timeout_s} s:\n{log[-2000:]}")


def test_two_webcam_sessions_at_once_each_with_its_own_tracker(server, media_dir, playwright_instance, tmp_path):
    """Two browsers stream over WebRTC at the same time (two faces, one face): both get annotated frames, neither
    shows an error, and each session's tracker numbers its own faces from 1 (one shared tracker would renumber them
    on every frame). Then one browser goes away mid-stream: the server closes its connection, the other stream goes
    on, and a new session connects and streams."""
    photos = {"two_people.jpg": 2, "obama.jpg": 1}
    # Browsers of their own: the first one goes away as a whole, as a user's would.
    browsers = [launch_chromium(playwright_instance, camera_file_from_image(media_dir / name, tmp_path)) for name in photos]
    try:
        pages = [browser.new_page() for browser in browsers]
        errors = [collect_errors(page) for page in pages]
        for page in pages:
            page.goto(server["url"])
        for page in pages:
            start_webrtc(page)  # both stream from here on
        for page, faces in zip(pages, photos.values()):
            page.wait_for_function(f"document.querySelector('#webcam-readout').innerText.includes('{faces} face(s)')",
                                   timeout=60_000)
        readouts = [page.locator("#webcam-readout").inner_text() for page in pages]
        for page, readout in zip(pages, readouts):  # both still streaming: their readouts (frames/s, ms) move on
            page.wait_for_function("(old) => document.querySelector('#webcam-readout').innerText !== old", arg=readout,
                                   timeout=30_000)
        for page, faces in zip(pages, photos.values()):
            assert shown_box_pixels(page) > 300
            ids, table = track_ids(page)
            assert ids and set(ids) <= {str(i) for i in range(1, faces + 1)}, table  # shared: ids would climb
            assert page.locator(".toast-body.error").count() == 0
        assert [e for e in sum(errors, []) if "WebRTC" in e or "pageerror" in e] == []

        # The first browser disappears mid-stream (no Stop): its tab's unload closes the connection on the server.
        browsers[0].close()
        wait_for_log(server, "closed with the tab (1 open)")
        readout = pages[1].locator("#webcam-readout").inner_text()
        pages[1].wait_for_function("(old) => document.querySelector('#webcam-readout').innerText !== old",
                                   arg=readout, timeout=30_000)  # the other stream goes on
        again = launch_chromium(playwright_instance, camera_file_from_image(media_dir / "two_people.jpg", tmp_path))
        browsers[0] = again
        page = again.new_page()
        page.goto(server["url"])
        start_webrtc(page)  # a new session connects in the freed place
        page.wait_for_function("document.querySelector('#webcam-readout').innerText.includes('2 face(s)')",
                               timeout=60_000)
        assert shown_box_pixels(page) > 300
        for page in (page, pages[1]):
            page.click("#webrtc-stop")
    finally:
        for browser in browsers:
            browser.close()
    assert server["process"].poll() is None


def timeline_marks(page) -> dict:
    """The session timeline as Chromium shows it: its legend, its face rows, and how many of its pixels have an
    expression's colour outside the legend."""
    import cv2

    from core.draw import expression_colors

    svg = page.locator("#session-timeline svg")
    shot = cv2.cvtColor(cv2.imdecode(np.frombuffer(svg.screenshot(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    legend_bottom = int(svg.evaluate("s => { const r = s.querySelector('rect.legend').getBoundingClientRect();"
                                     " return r.bottom - s.getBoundingClientRect().top + 1; }"))
    marks = shot[legend_bottom:].astype(int)
    colours = [np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)]) for c in expression_colors().values()]
    texts = svg.evaluate("s => [...s.querySelectorAll('text')].map(t => t.textContent)")
    return {"legend": [t for t in texts if t in EMOTIONS], "rows": [t for t in texts if t.startswith("track ")],
            "pixels": int(sum((np.abs(marks - c).max(axis=2) < 12).sum() for c in colours))}


def test_webcam_session_alerts_once_per_unmasked_face_and_downloads_its_csv(server, media_dir, playwright_instance,
                                                                            tmp_path):
    """The webcam tab's session panel (core.session via the WebRTC stream's tracker): two bare faces on the fake camera,
    unmasked for more than the minimum duration, raise exactly one alert each, announced in one toast; the timeline
    draws a coloured row per face under a legend; the session CSV has one row per tracked face per sample and no
    image data; "Reset session" clears it."""
    import csv
    import io

    from core.session import ALERT_AFTER_S, csv_header

    if not (mask_model_dir() / ARCHITECTURE_FILE).is_file():
        pytest.skip("no mask model (models/mask): no unmasked alerts")
    camera = camera_file_from_image(media_dir / "two_people.jpg", tmp_path)
    browser = shared_chromium(playwright_instance, camera)
    alerts_js = "() => [...document.querySelectorAll('#session-alerts li')].map(li => li.innerText)"
    try:
        page = browser.new_page(accept_downloads=True)
        page.goto(server["url"])
        start_webrtc(page)
        page.wait_for_function("document.querySelectorAll('#session-alerts li').length >= 2", timeout=90_000)
        first = page.evaluate(alerts_js)
        toasts = page.locator(".toast-body.warning").count()  # two alerts, one toast (at most one at a time)
        page.wait_for_timeout(int((2 * ALERT_AFTER_S + 1) * 1000))  # still unmasked: no further alert
        timeline = timeline_marks(page)
        page.click("#webrtc-stop")
        assert toasts <= 1
        assert timeline["legend"] == list(EMOTIONS) and timeline["rows"] == ["track 1", "track 2"], timeline
        assert timeline["pixels"] > 1000, timeline  # coloured marks drawn, beyond the legend
        assert all(a.endswith("s since the session started)") for a in first), first
        alerts = page.evaluate(alerts_js)
        assert alerts == first and len(alerts) == 2, (first, alerts)
        assert sorted(re.search(r"track (\d+) unmasked", a).group(1) for a in alerts) == ["1", "2"]
        assert all(f"unmasked for \u2265 {ALERT_AFTER_S:g} s" in a for a in alerts), alerts
        page.wait_for_function("document.querySelector('#session-summary').innerText.includes('2 unmasked')",
                               timeout=10_000)
        assert "2** face(s) seen" not in page.locator("#session-summary").inner_text()  # rendered, not raw markdown

        page.locator("#session-csv-button").click()
        link = page.locator("#session-csv a").first
        link.wait_for(timeout=30_000)
        with page.expect_download() as download:
            link.click()
        path = tmp_path / "session.csv"
        download.value.save_as(path)
        text = path.read_text()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == csv_header(EMOTIONS)
        by_time: dict[str, list[str]] = {}
        for row in rows[1:]:
            assert len(row) == len(rows[0])
            by_time.setdefault(row[0], []).append(row[1])
        assert len(by_time) >= 4, by_time
        assert all(sorted(tracks) == ["1", "2"] for tracks in by_time.values()), by_time  # a row per face per sample
        assert {row[-2] for row in rows[1:]} == {"without_mask"}
        assert max(len(field) for row in rows for field in row) <= 32 and "base64" not in text  # no image data

        page.locator("#session-reset").click()
        page.wait_for_function("document.querySelector('#session-summary').innerText.includes('No face seen yet')",
                               timeout=10_000)
        assert page.evaluate(alerts_js) == []
    finally:
        browser.close()


def test_a_photo_uploaded_in_the_browser_is_labelled_after_the_frame_lifetime(server, media_dir, playwright_instance):
    """Upload in the Image tab, wait past the stream frames' lifetime (and a cleaner run), then "Label the faces": the
    upload is still there (before: every .jpg/.png got the frames' 10 s, "not a readable image (FileNotFoundError)")."""
    browser = shared_chromium(playwright_instance)
    try:
        page = browser.new_page()
        page.goto(server["url"])
        page.get_by_role("tab", name="Image").click()
        with page.expect_response(lambda response: "/gradio_api/upload" in response.url) as uploaded:
            page.locator("#image-input input[type=file]").set_input_files(str(media_dir / "two_people.jpg"))
        assert uploaded.value.ok
        time.sleep(FRAME_TTL_S + CLEAN_EVERY_S + 1)  # the cleaner has run since: a stream frame would be gone
        page.get_by_role("button", name="Label the faces").click()
        page.wait_for_function("document.querySelector('#image-summary').innerText.includes('face(s)')",
                               timeout=60_000)
        assert page.locator("#image-summary").inner_text().startswith("2 face(s)")
    finally:
        browser.close()


# The module's server stops here: tests that need it go above.
def test_temp_dir_is_removed_when_the_server_stops(server):
    assert server["temp_dir"].is_dir()
    stop_server(server["process"])
    assert server["process"].returncode == 0
    assert not server["temp_dir"].exists()


def test_importing_the_app_loads_nothing_and_writes_nothing(tmp_path):
    """Only `main` makes the private temp dir and loads the models; importing the module does neither."""
    import os
    import subprocess
    import sys

    from tests.harness import REPO

    env = {key: value for key, value in os.environ.items() if key != "GRADIO_TEMP_DIR"}
    env["TMPDIR"] = str(tmp_path)
    code = ("import os, sys, demo.gradio_app as app; "
            "print(os.environ.get('GRADIO_TEMP_DIR'), 'tensorflow' in sys.modules, callable(app.predict_image))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["None", "False", "True"]
    assert not list(tmp_path.glob("facexp-gradio-*"))

