"""What both web UIs ask of the user's camera and what they say when it cannot be had: the size asked for and the
messages for getUserMedia's errors. The Gradio app (demo/gradio_head.py, demo/gradio_settings.py) and the in-browser
page (web_static/js/app.js, through web_static/models/index.json: "pipeline" -> "camera") both read them from here.

A message names the cause; `{retry}` and `{instead}` are the UI's own remedy ("reload" / "use the Image tab" in the
Gradio app, 'press "Start camera"' / "upload an image instead" on the page); `{name}` and `{message}` are the
browser's error.
"""

from __future__ import annotations

CAMERA_SIZE = (640, 480)  # width, height asked of the camera (ideal); the readouts say what it gives
CAMERA_ERRORS = {
    "NotAllowedError": "Camera permission was denied. Allow camera access for this page in the browser settings and "
                       "{retry}, or {instead}.",
    "NotFoundError": "No camera was found. Connect a camera and {retry}, or {instead}.",
    "NotReadableError": "The camera is in use by another program or could not be started. Close it there and "
                        "{retry}, or {instead}.",
    "other": "The camera could not be started ({name}: {message}). You can {instead}.",
}
CAMERA_ERROR_ALIASES = {  # other names browsers give the same causes
    "SecurityError": "NotAllowedError",
    "OverconstrainedError": "NotFoundError",
    "DevicesNotFoundError": "NotFoundError",
    "AbortError": "NotReadableError",
}


def camera_messages(retry: str, instead: str) -> dict[str, str]:
    """Every error name (aliases too) -> its message with this UI's remedy filled in; "other" keeps {name} and
    {message} for the browser's error."""
    filled = {name: text.replace("{retry}", retry).replace("{instead}", instead) for name, text in CAMERA_ERRORS.items()}
    return {**filled, **{alias: filled[name] for alias, name in CAMERA_ERROR_ALIASES.items()}}


def camera_metadata() -> dict:
    """The constants the page shares with this module (web_static/models/index.json, "pipeline" -> "camera")."""
    return {"size": {"width": CAMERA_SIZE[0], "height": CAMERA_SIZE[1]}, "errors": CAMERA_ERRORS,
            "error_aliases": CAMERA_ERROR_ALIASES}
