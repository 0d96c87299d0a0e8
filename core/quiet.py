"""Quiet start-up: TensorFlow and LiteRT print banners and CUDA notes on every start, most of them from C++ before
any log setting is read ("All log messages before absl::InitializeLog()", "Could not find cuda drivers",
"Created TensorFlow Lite XNNPACK delegate"). They are not errors; this module keeps them out of the output.

`import_tensorflow()` imports TensorFlow (and so Keras) with the process's stderr (file descriptor 2) sent to
/dev/null for the duration of the import only; an import that fails still raises (and its traceback is printed
after stderr is back). `FACEXP_VERBOSE=1` shows everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read by TensorFlow at import: no oneDNN notes, no cuInit errors


@contextlib.contextmanager
def silenced_stderr():
    """Send file descriptor 2 (C and C++ writes included) to /dev/null inside the block."""
    if os.environ.get("FACEXP_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow():
    """`import tensorflow` without its start-up chatter; returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with silenced_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery (the CUDA notes) happens here, still silenced
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # "Assets written to ..." on every LiteRT conversion
    return tf
