"""Writing files so that a kill never leaves half a file: write under a temporary name in the same folder, then
rename (an atomic step). Used for model folders, training checkpoints and records, figures and the web bundles.

The temporary name is `partial-<name>`, which keeps the suffix (`.png`, `.weights.h5`, `.keras`) that matplotlib and
Keras read the format from.
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
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_atomically(path: Path, data: str | bytes) -> None:
    """Text or bytes into `path`, flushed to disk before the rename."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb" if isinstance(data, bytes) else "w") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    write_via_temporary(path, write)


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
