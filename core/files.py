"""Writing files so that a kill or a full disk never leaves half a file: write under a temporary name in the same
folder, then rename (an atomic step). Used for model folders, training checkpoints and records, figures, the web
bundles and the annotated copies of the CLI.

The temporary name is `partial-<name>`, which keeps the suffix (`.png`, `.weights.h5`, `.keras`) that matplotlib and
Keras read the format from. Any failure (a full disk's ENOSPC, EFBIG past a file-size limit, an encoder's refusal)
propagates as an exception after the temporary file is removed; the target is then untouched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def temporary_path(path: Path) -> Path:
    return path.with_name("partial-" + path.name)


def write_via_temporary(path: Path, write: Callable[[Path], object]) -> None:
    """`write(temporary path)`, then rename the result to `path` (the temporary file is removed on failure)."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: str | bytes) -> None:
    """Text or bytes into `path`, flushed to disk before the rename."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb" if isinstance(data, bytes) else "w") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    write_via_temporary(path, write)


class EncodeError(OSError):
    """An image that the encoder refused to turn into the bytes of its file format."""


def write_image_atomically(path: Path, image_bgr) -> None:
    """An image array (BGR or gray, as OpenCV stores it) encoded in the format of `path`'s suffix and written with
    `write_atomically`; `EncodeError` when OpenCV cannot encode it, `OSError` when the file cannot be written."""
    import cv2

    path = Path(path)
    try:
        ok, encoded = cv2.imencode(path.suffix, image_bgr)
    except cv2.error:  # no encoder for this suffix
        ok = False
    if not ok:
        raise EncodeError(f"cannot encode the image as {path.suffix}")
    write_atomically(path, encoded.tobytes())


def save_weights_atomically(model, path: Path) -> None:
    """`model.save_weights` (path ending in `.weights.h5`)."""
    write_via_temporary(path, model.save_weights)


def save_model_atomically(model, path: Path) -> None:
    """`model.save` (path ending in `.keras`)."""
    write_via_temporary(path, model.save)


def save_figure(fig, path: Path, dpi: int) -> None:
    """A matplotlib figure as an image file (format from the suffix); the figure is closed afterwards."""
    import matplotlib.pyplot as plt

    try:
        write_via_temporary(path, lambda tmp: fig.savefig(tmp, dpi=dpi))
    finally:
        plt.close(fig)
