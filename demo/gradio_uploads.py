"""Which files the Gradio app's handlers open: only files this server received (or wrote) in this process.

Gradio (6.31) checks that a file named in an API call was uploaded by a user only when the call's FileData carries
`"meta": {"_type": "gradio.FileData"}`; the same FileData without `meta` goes to the component as it is, so
`POST /gradio_api/call/predict_image` with `{"data": [{"path": "/any/server/file.png"}]}` made the app open any image
file on the server and send it back annotated (README "Notes for Gradio"). Here every file input of the app
(the Image tab, the image stream, the Video tab, the track plot's CSV) goes through `accept_received_files`, which
wraps the component's `preprocess` (the one step every event of every endpoint takes, public or private, from the page
or the API) and refuses, before anything is opened:
- a path that after `resolve()` (symlinks, `..`) is not a file inside the private temp folder (demo.gradio_temp), the
  only place uploads go, with the same words whether it exists or not (no oracle for which files exist);
- a data: or http URL instead of a path (nothing is fetched or decoded for it), except on the image stream, whose
  page sends each camera frame as a data: URL (`data_urls=True`): its bytes (at most MAX_DATA_URL_CHARS) are the
  user's own, read in memory like a file;
- then, for images and videos, what `core.input_limits` refuses from the header (too large, too long, not one).
Errors are gr.Error texts for people: they name the file by the name the user gave it, never a server path or an
exception class.

Images are read by `core.image_files.read_image` (the CLI's reader) instead of Gradio's PIL conversion, which clips
16-bit and float images.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Callable

from demo.gradio_errors import user_error
from demo.gradio_temp import STREAM_FRAMES, temp_dir

NOT_RECEIVED = ("{name} is not a file this server received, or no longer one it keeps (uploads are deleted after 15 "
                "minutes, and when the app restarts). Upload the file (through the page, or through /gradio_api/upload "
                "for the API) and send the path that the upload answered.")
NOT_DATA_URL = "{name} is not an image sent as a data: URL (base64) of at most {limit} characters."
MAX_DATA_URL_CHARS = 20_000_000  # a 640x480 camera frame as JPEG is about 60,000

def display_name(payload) -> str:
    """The name the user gave the file (its base name only), else a generic one."""
    name = getattr(payload, "orig_name", None)
    return Path(name).name if name else "The file"


def received_path(payload) -> Path:
    """The payload's file if this server received it: a file inside the private temp folder, after resolve(); else
    gr.Error, in the same words for any path, existing or not, inside or outside."""
    name = display_name(payload)
    path = getattr(payload, "path", None)
    if not isinstance(path, str) or not path or "://" in path or path.startswith("data:"):
        raise user_error(NOT_RECEIVED.format(name=name))
    folder = temp_dir().resolve()
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        raise user_error(NOT_RECEIVED.format(name=name)) from None
    if not resolved.is_relative_to(folder) or resolved == folder:
        raise user_error(NOT_RECEIVED.format(name=name))
    if not resolved.is_file():
        raise user_error(NOT_RECEIVED.format(name=name))  # the same words: no oracle through Gradio's cache copies
    return resolved


def data_url_bytes(payload) -> bytes | None:
    """The bytes of a payload sent as a data: URL (base64) instead of a path; None when it is not one."""
    url = getattr(payload, "url", None)
    if getattr(payload, "path", None) or not isinstance(url, str) or not url.startswith("data:"):
        return None
    head, _, encoded = url.partition(",")
    if len(url) > MAX_DATA_URL_CHARS or not head.endswith(";base64"):
        raise user_error(NOT_DATA_URL.format(name=display_name(payload), limit=MAX_DATA_URL_CHARS))
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise user_error(NOT_DATA_URL.format(name=display_name(payload), limit=MAX_DATA_URL_CHARS)) from None


def accept_received_files(component, read: Callable[[Path], object] | None = None,
                          check: Callable[[Path], object] | None = None, stream_frames: bool = False,
                          data_urls: bool = False):
    """The component, its preprocess refusing files this server did not receive (see the module docstring). With
    `check`, the file's header is checked first (ValueError -> gr.Error with the user's file name); with `read`, the
    component's value is `read(path)` instead of what Gradio's preprocess makes of it. `stream_frames`: the files
    are the image stream's camera frames, deleted after the frame lifetime (demo.gradio_temp). `data_urls`: a
    payload may be a data: URL instead of a file, given to `read` as bytes (the image stream's frames). (Wrapping the
    instance's preprocess: subclassing a Gradio component would write a .pyi file next to this one.)"""
    preprocess = component.preprocess

    def checked_preprocess(payload):
        if payload is None:
            return None
        data = data_url_bytes(payload) if data_urls and read is not None else None
        if data is not None:
            try:
                return read(data)
            except ValueError as error:
                raise user_error(f"{display_name(payload)}: {error}") from None
        files = payload.root if isinstance(getattr(payload, "root", None), list) else [payload]
        for file in files:
            path = received_path(file)
            file.path = str(path)
            if stream_frames:
                STREAM_FRAMES.add(path)
            try:
                if check is not None:
                    check(path)
                if read is not None:
                    return read(path)
            except ValueError as error:  # InputError, VideoError: their texts are written for people
                raise user_error(f"{display_name(file)}: {error}") from None
        return preprocess(payload)

    component.preprocess = checked_preprocess
    return component
