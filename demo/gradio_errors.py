"""A user's mistake (no file, a file that is not an image, a camera that did not start, ...): said to the user in a
sentence written for people, and logged on the server as one line, without Gradio's traceback (which it prints for
every gr.Error unless told otherwise). Unexpected errors keep their traceback (demo.gradio_fixes.readable_error_texts)."""

from __future__ import annotations

import logging

import gradio as gr

log = logging.getLogger("facexp.gradio")


def user_error(text: str) -> gr.Error:
    """The gr.Error to raise for `text` (logged here, once)."""
    log.info("user error: %s", text)
    return gr.Error(text, print_exception=False)
