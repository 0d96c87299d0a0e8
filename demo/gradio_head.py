"""What the Gradio app adds to the page's <head>: its settings as JSON, then two scripts read from their `.js` files
at start-up: demo/camera_error.js (says in the Webcam tab why the camera did not start) and demo/webrtc.js (the
page's side of the webcam's WebRTC connection, demo/webrtc.py)."""

from __future__ import annotations

import json
from pathlib import Path

from core.camera import camera_messages

HERE = Path(__file__).parent
HEAD_SCRIPTS = ("camera_error.js", "webrtc.js")

# Shown in the Webcam tab when the browser gives no camera, by getUserMedia's error name (core.camera's messages, with
# this app's remedy).
CAMERA_ERRORS = camera_messages(retry="reload", instead="use the Image tab")
CAMERA_ERROR_ID = "webcam-camera-error"


def head_html(webrtc_config: dict) -> str:
    """<head> scripts: window.facexpCameraErrors and window.facexpWebrtcConfig (demo.webrtc.WebRTCPeers.browser_config),
    then HEAD_SCRIPTS' code."""
    settings = (f"window.facexpCameraErrors = {json.dumps({'messages': CAMERA_ERRORS, 'elementId': CAMERA_ERROR_ID})};\n"
                f"window.facexpWebrtcConfig = {json.dumps(webrtc_config)};")
    scripts = [settings, *((HERE / name).read_text() for name in HEAD_SCRIPTS)]
    return "\n".join(f"<script>\n{code}\n</script>" for code in scripts)
