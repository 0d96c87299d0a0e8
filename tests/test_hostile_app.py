"""The hostile pass against the Gradio app, kept as tests: one real server for the module (python app.py with a
5 MB upload limit, a 2 s frame lifetime and a TMPDIR of its own), called the way an attacker would: raw HTTP to the
API and the queue (every endpoint and file component, public and private), junk WebRTC offers, huge-when-decoded
files, concurrent callers, a page that frames the app. Each case fails without its fix (the comment says what it got
before)."""

import json
import re
import threading
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

# isort: off
# demo.webrtc first: it imports aiortc safely after TensorFlow (pylibsrtp segfaults otherwise, see demo/webrtc.py)
from demo.webrtc import WebRTCPeers  # noqa: F401
from aiortc import RTCPeerConnection
# isort: on
from core.model_folder import ARCHITECTURE_FILE
from core.pipeline import emotion_model_dir
from demo.gradio_fixes import UNEXPECTED_ERROR
from demo.gradio_security import MALFORMED_REQUEST, SECURITY_HEADERS
from tests.harness import (
    collect_errors,
    free_port,
    huge_png,
    read_rgb,
    require,
    run_coroutine,
    shared_chromium,
    start_server,
    stop_server,
    synthetic_video,
)

FRAME_TTL_S, CLEAN_EVERY_S = 2, 3  # FACEXP_FRAME_TTL_S for this server; demo.gradio_temp.CLEAN_EVERY_S
MAX_FILE_SIZE_MB = 5
LEAKS = re.compile(r"\b\w*(Error|Exception)\b|Traceback|pydantic|validation error|/work/|/tmp/|/etc/|0x[0-9a-f]{6,}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require(emotion_model_dir() / ARCHITECTURE_FILE, "expression model")
    folder = tmp_path_factory.mktemp("hostile")
    scratch = folder / "tmp"
    scratch.mkdir()
    port = free_port()
    process = start_server(["--port", str(port), "--max-file-size", f"{MAX_FILE_SIZE_MB}mb"], port, folder / "server.log",
                           env={"GRADIO_TEMP_DIR": "", "TMPDIR": str(scratch), "FACEXP_FRAME_TTL_S": str(FRAME_TTL_S)})
    (temp_dir,) = scratch.glob(f"facexp-gradio-{process.pid}-*")
    yield {"url": f"http://127.0.0.1:{port}", "temp_dir": temp_dir, "scratch": scratch, "process": process,
           "log": folder / "server.log"}
    stop_server(process)


@pytest.fixture(scope="module")
def events(server):
    """api name -> (fn_index, trigger id) from the app's /config (private events have names too)."""
    import httpx

    config = httpx.get(server["url"] + "/config", timeout=30).json()
    return {dep["api_name"]: (index, dep["targets"][0][0]) for index, dep in enumerate(config["dependencies"])}


def raw_call(server, api_name: str, data) -> tuple[str, dict]:
    """POST /gradio_api/call/<api_name> as curl would: (SSE event name, its data) of the final event."""
    import httpx

    response = httpx.post(f"{server['url']}/gradio_api/call/{api_name}", json={"data": data}, timeout=60)
    response.raise_for_status()
    event_id = response.json()["event_id"]
    event = payload = None
    with httpx.stream("GET", f"{server['url']}/gradio_api/call/{api_name}/{event_id}", timeout=300) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                payload = json.loads(line.split(":", 1)[1])
    return event, payload


def join(server, events, api_name: str, data, session: str | None = None) -> dict:
    """The queue's join + data stream, as the page calls any event (private ones too): the completing message, or for
    a streaming event (the webcam's) its first answered frame."""
    import httpx

    fn_index, trigger = events[api_name]
    session = session or uuid.uuid4().hex[:12]
    response = httpx.post(f"{server['url']}/gradio_api/queue/join", timeout=30, json={
        "data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": trigger})
    response.raise_for_status()
    with httpx.stream("GET", f"{server['url']}/gradio_api/queue/data", params={"session_hash": session},
                      timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") in ("process_completed", "unexpected_error"):
                    return message
                if message.get("msg") == "process_streaming":  # a stream's frame answered: the event itself lasts
                    return {"success": True, **message}       # until its time limit (minutes), so do not wait for it
    raise AssertionError(f"no completion for {api_name}")


def upload(server, path: Path) -> dict:
    """POST /gradio_api/upload: the FileData of the stored upload (as the page and gradio_client send it)."""
    import httpx

    with open(path, "rb") as handle:
        response = httpx.post(f"{server['url']}/gradio_api/upload", files={"files": (path.name, handle)}, timeout=120)
    response.raise_for_status()
    return {"path": response.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def error_text(result) -> str:
    """The error text of a raw call's or a queue message's result (AssertionError if it succeeded)."""
    if isinstance(result, tuple):
        event, payload = result
        assert event == "error", f"not refused: {result}"
        return payload["error"]
    assert result.get("success") is False, f"not refused: {str(result)[:300]}"
    return result["output"]["error"]


def assert_readable(text: str) -> None:
    assert text and not LEAKS.search(text), text


# ---------------------------------------------------------------------------------------------------------------------
# 1. Only files this server received
# ---------------------------------------------------------------------------------------------------------------------


def server_file_cases(server, media_dir, tmp_path) -> dict[str, dict[str, str]]:
    """For each kind of file input: paths of files that exist on the server but were never uploaded, each a way
    around a naive check, and one that does not exist (its answer must be the same: no oracle)."""
    csv_path = tmp_path / "faces.csv"
    csv_path.write_text("frame,time_s,face,track," + ",".join(f"p_{label}" for label in ["angry"]) + "\n")
    link = server["temp_dir"] / f"link-{uuid.uuid4().hex[:6]}.jpg"  # inside the folder, pointing out of it
    link.symlink_to(media_dir / "obama.jpg")
    outside = {"image": media_dir / "obama.jpg", "video": media_dir / "short_hamilton_clip.mp4", "file": csv_path}
    cases = {}
    for kind, path in outside.items():
        cases[kind] = {
            "outside": str(path),
            "missing": str(path.with_name("no-such-" + path.name)),
            "dot-dot": str(server["temp_dir"]) + "/.." * 30 + str(path),
            "symlink": str(link),
        }
    return cases


ENDPOINTS = {  # api name -> (kind of file input, the other inputs, called through the queue because it is private)
    "predict_image": ("image", [], False),
    "predict_video": ("video", [True], False),
    "video_track_plot": ("file", ["1"], False),
    "webcam_frame": ("image", [True, True, None], True),  # the image stream (private)
}


@pytest.mark.parametrize("with_meta", [False, True], ids=["FileData-without-meta", "FileData-with-meta"])
@pytest.mark.parametrize("api_name", list(ENDPOINTS))
def test_server_files_are_refused_by_every_endpoint_and_component(server, events, media_dir, tmp_path, api_name,
                                                                  with_meta):
    """Before: {"data": [{"path": "/any/server/file.png"}]} made predict_image open the file and answer it
    annotated (and name UnidentifiedImageError / FileNotFoundError for others: an oracle for which files exist)."""
    kind, rest, private = ENDPOINTS[api_name]
    answers = {}
    for case, path in server_file_cases(server, media_dir, tmp_path)[kind].items():
        file = {"path": path, **({"meta": {"_type": "gradio.FileData"}} if with_meta else {})}
        result = join(server, events, api_name, [file, *rest]) if private else raw_call(server, api_name, [file, *rest])
        answers[case] = error_text(result)
        assert_readable(answers[case])
    assert len(set(answers.values())) == 1, answers  # existing or not, inside by a trick or not: the same words
    assert server["process"].poll() is None


def test_a_data_url_or_a_web_address_is_not_fetched_or_decoded(server, media_dir):
    import base64

    png = base64.b64encode(cv2.imencode(".png", cv2.imread(str(media_dir / "obama.jpg")))[1].tobytes()).decode()
    for file in ({"url": "data:image/png;base64," + png, "path": None}, {"path": "http://127.0.0.1:9/x.png"}):
        assert_readable(error_text(raw_call(server, "predict_image", [file])))


def data_url(path: Path) -> dict:
    import base64

    return {"url": "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode(), "path": None,
            "orig_name": path.name}


def test_the_image_stream_reads_its_data_urls_with_the_same_checks(server, events, media_dir, tmp_path):
    """The page sends each streamed camera frame as a data: URL: one that decodes huge is refused from its header
    (before: Gradio decoded it whole), an ordinary frame is labelled."""
    huge = huge_png(tmp_path / "huge.png", 20000, 20000)
    text = error_text(join(server, events, "webcam_frame", [data_url(huge), True, True, None]))
    assert "megapixels are accepted" in text
    assert_readable(text.replace("huge.png", "the file"))
    cv2.imwrite(str(tmp_path / "frame.png"), cv2.imread(str(media_dir / "two_people.jpg")))
    result = join(server, events, "webcam_frame", [data_url(tmp_path / "frame.png"), True, True, None])
    assert result.get("success") and "2 face(s)" in result["output"]["data"][3], str(result)[:400]


def test_the_example_loader_takes_an_index_not_a_path(server, events, media_dir):
    result = join(server, events, "load_example", [{"path": str(media_dir / "obama.jpg")}])
    assert_readable(error_text(result))


# ---------------------------------------------------------------------------------------------------------------------
# 4. Uploads live as long as README says, whatever their suffix
# ---------------------------------------------------------------------------------------------------------------------


def test_an_upload_is_labelled_after_the_frame_lifetime(server, media_dir):
    """Before: every .jpg/.png in the temp folder got the stream frames' lifetime, so an upload that waited longer was
    gone ("not a readable image (FileNotFoundError)")."""
    file = upload(server, media_dir / "obama.jpg")
    time.sleep(FRAME_TTL_S + CLEAN_EVERY_S + 2)
    event, payload = raw_call(server, "predict_image", [file])
    assert event == "complete", payload
    assert len(payload[3]["faces"]) == 1


CONCURRENT_CALLERS = 8  # the last ones wait in the queue well past FRAME_TTL_S + CLEAN_EVERY_S


def test_concurrent_callers_of_one_large_photo_all_get_it(server, media_dir, tmp_path):
    """Before: 14 of 16 concurrent callers of one large photo got "not a readable image (FileNotFoundError)": their
    upload (one file, the same bytes) was deleted by the frame cleaner while they waited in the queue."""
    from gradio_client import Client, handle_file

    happy = cv2.imread(str(media_dir / "happy.jpg"))
    photo = tmp_path / "large.jpg"
    cv2.imwrite(str(photo), cv2.resize(happy, (5000, int(5000 * happy.shape[0] / happy.shape[1]))))
    faces, errors = [], []

    def caller(index):
        try:
            client = Client(server["url"] + "/", verbose=False, download_files=str(tmp_path / str(index)))
            faces.append(len(client.predict(handle_file(str(photo)), api_name="/predict_image")[3]["faces"]))
        except Exception as error:  # noqa: BLE001 (each failure is the finding)
            errors.append(str(error))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(CONCURRENT_CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert errors == [] and faces == [1] * CONCURRENT_CALLERS


# ---------------------------------------------------------------------------------------------------------------------
# 3. Size limits before decoding
# ---------------------------------------------------------------------------------------------------------------------


def test_an_upload_over_max_file_size_is_refused_while_it_arrives(server, tmp_path):
    """Before: no limit (1 GiB accepted in 11 s and kept 15 min)."""
    import httpx

    big = tmp_path / "big.jpg"
    big.write_bytes(np.random.default_rng(0).integers(0, 256, (MAX_FILE_SIZE_MB + 1) << 20, dtype=np.uint8).tobytes())
    with open(big, "rb") as handle:
        response = httpx.post(f"{server['url']}/gradio_api/upload", files={"files": ("big.jpg", handle)}, timeout=60)
    assert response.status_code == 413 and "maximum allowed size" in response.text
    assert [p for p in server["temp_dir"].rglob("*") if p.is_file() and p.stat().st_size > MAX_FILE_SIZE_MB << 20] == []


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := the current RSS


def test_images_and_videos_that_decode_huge_are_refused_from_their_header(server, tmp_path):
    """Before: a 0.4 MB 144-MP PNG cost the app 1.67 GB and an 8K video 2.45 GB before (or without) a refusal."""
    pid = server["process"].pid
    cases = [(huge_png(tmp_path / "huge.png", 20000, 20000), "predict_image", [], "megapixels are accepted"),
             (synthetic_video(tmp_path / "8k.mp4", 7680, 4320, 3), "predict_video", [True], "at most 4096x2160")]
    for path, api_name, rest, message in cases:
        file = upload(server, path)
        reset_peak_rss(pid)
        before = peak_rss_mb(pid)
        text = error_text(raw_call(server, api_name, [file, *rest]))
        assert message in text and text.startswith(path.name), text
        assert_readable(text.replace(path.name, "the file"))
        assert peak_rss_mb(pid) - before < 150, (path.name, before, peak_rss_mb(pid))  # decoded: 1.2 GB / 100 MB a frame


# ---------------------------------------------------------------------------------------------------------------------
# 7. Deep and float images keep their faces
# ---------------------------------------------------------------------------------------------------------------------


def test_16_bit_and_float_images_are_labelled_as_the_cli_labels_them(server, media_dir, tmp_path):
    """Before: "No face found" for both (Gradio's PIL conversion to 8-bit RGB clips them to white / black)."""
    grey = cv2.cvtColor(read_rgb(media_dir / "happy.jpg"), cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "grey16.png"), grey.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "grey.tiff"), grey.astype(np.float32) / 255)
    for name in ("grey16.png", "grey.tiff"):
        event, payload = raw_call(server, "predict_image", [upload(server, tmp_path / name)])
        assert event == "complete" and len(payload[3]["faces"]) == 1, (name, payload)


# ---------------------------------------------------------------------------------------------------------------------
# 5. WebRTC offers
# ---------------------------------------------------------------------------------------------------------------------


def browser_offer() -> str:
    async def make():
        browser = RTCPeerConnection()
        browser.addTransceiver("video", direction="sendrecv")
        await browser.setLocalDescription(await browser.createOffer())
        offer = json.dumps({"sdp": browser.localDescription.sdp, "type": "offer"})
        await browser.close()
        return offer

    return run_coroutine(make())


def test_junk_webrtc_offers_take_no_stream_slot_and_unconnected_ones_are_closed(server, events):
    """Before: four junk offers (from four sessions) held all four stream slots for 3 s, so the next real user heard
    "Busy"; and answered connections that never connected were held for the 10-minute limit."""
    junk = ["not json", json.dumps({"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "type": "offer"}),
            json.dumps({"sdp": "m=video", "type": "offer"}), json.dumps({"type": "offer"}), "[1]", "{}"]
    for offer in junk:
        text = error_text(join(server, events, "webrtc_start", [offer, True, True, None]))
        assert "WebRTC" in text
        assert_readable(text)
    answer = join(server, events, "webrtc_start", [browser_offer(), True, True, None])
    assert answer.get("success"), answer
    assert "a=fingerprint" in json.loads(answer["output"]["data"][0])["sdp"]  # answered, not "Busy"
    # A second offer from this address is answered too; a third, while both are still connecting, is not.
    assert join(server, events, "webrtc_start", [browser_offer(), True, True, None]).get("success")
    text = error_text(join(server, events, "webrtc_start", [browser_offer(), True, True, None]))
    assert "still connecting" in text
    deadline = time.time() + 30
    while server["log"].read_text().count("not connected within") < 2 and time.time() < deadline:
        time.sleep(0.5)
    assert server["log"].read_text().count("not connected within") == 2  # both closed, well before 10 minutes


# ---------------------------------------------------------------------------------------------------------------------
# 6. Security headers, readable errors
# ---------------------------------------------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(server, media_dir):
    """Before: no CSP, frame-ancestors, X-Frame-Options, nosniff or Referrer-Policy on any response."""
    import httpx

    file = upload(server, media_dir / "obama.jpg")
    event, payload = raw_call(server, "predict_image", [file])
    responses = {
        "page": httpx.get(server["url"] + "/"),
        "config": httpx.get(server["url"] + "/config"),
        "api info": httpx.get(server["url"] + "/gradio_api/info"),
        "not found": httpx.get(server["url"] + "/no-such-page"),
        "annotated image": httpx.get(payload[0]["url"]),
        "upload": httpx.post(server["url"] + "/gradio_api/upload", files={"files": ("a.txt", b"x")}),
    }
    assert responses["page"].status_code == 200 and responses["annotated image"].status_code == 200
    for name, response in responses.items():
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header, response.headers.get(header))
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff" and SECURITY_HEADERS["X-Frame-Options"] == "DENY"


def test_the_page_works_under_its_policy_and_cannot_be_framed(server, media_dir, playwright_instance, tmp_path):
    """In a real Chromium: the app labels a photo with no CSP violation on the page; a page of another origin that
    frames the app gets a blocked frame (before: the camera page could be framed)."""
    framing = tmp_path / "framing.html"
    framing.write_text(f'<iframe id="app" src="{server["url"]}/" width="800" height="600"></iframe>')
    browser = shared_chromium(playwright_instance)
    try:
        page = browser.new_page()
        errors = collect_errors(page)
        page.goto(server["url"] + "/")
        page.get_by_role("tab", name="Image").click()
        page.locator("#image-input input[type=file]").set_input_files(str(media_dir / "two_people.jpg"))
        page.get_by_role("button", name="Label the faces").click()
        page.get_by_text("2 face(s)").first.wait_for(timeout=60_000)
        framed = browser.new_page()
        framed.goto(f"file://{framing}")
        framed.wait_for_timeout(3000)
        frame_url = framed.frames[1].url if len(framed.frames) > 1 else ""
        frame_text = framed.frames[1].evaluate("() => document.body ? document.body.innerText : ''") \
            if len(framed.frames) > 1 and not frame_url.startswith("chrome-error") else ""
    finally:
        browser.close()
    assert [e for e in errors if "Content Security Policy" in e or "Refused to" in e] == []
    assert "Facial expression" not in frame_text and (frame_url.startswith("chrome-error") or frame_text == ""), \
        (frame_url, frame_text[:200])


def test_malformed_requests_and_wrong_inputs_get_sentences(server, media_dir, tmp_path):
    """Before: pydantic's validation texts, reprs with addresses, exception class names and server paths."""
    import httpx

    response = httpx.post(f"{server['url']}/gradio_api/call/predict_image", json={"data": "x"})
    assert response.status_code == 422 and response.json() == {"detail": MALFORMED_REQUEST}
    for data in ([123], [{"path": 5}], [{"unexpected": True}]):
        text = error_text(raw_call(server, "predict_image", data))
        assert_readable(text)
        assert text in (UNEXPECTED_ERROR,) or "not a file this server received" in text
    import gradio as gr

    from demo.gradio_app import track_plot  # (through the API, the track must first be one of the session's choices)

    with pytest.raises(gr.Error) as error:
        track_plot(str(media_dir / "obama.jpg"), "1")
    assert error.value.message == "obama.jpg is not a faces CSV of the Video tab (its columns or values differ)."
    (notes := tmp_path / "notes.png").write_text("not an image")
    text = error_text(raw_call(server, "predict_image", [upload(server, notes)]))
    assert text.startswith("notes.png: not a readable image") and "(" in text
    assert_readable(text.replace("notes.png", "the file"))


# ---------------------------------------------------------------------------------------------------------------------
# 10. Nothing written outside the private folder
# ---------------------------------------------------------------------------------------------------------------------


def test_gradio_writes_nothing_outside_the_private_folder(server):
    """Before: Gradio made <temp>/gradio/vibe_edit_history at every start, outside the app's private folder."""
    assert sorted(p.name for p in server["scratch"].iterdir()) == [server["temp_dir"].name]
