"""Export of the trained models for the browser: TensorFlow.js layers-model bundles + the BlazeFace detector.

Run `python -m export --help`. The bundle format is written by `export.tfjs_layers` (no `tensorflowjs` pip package),
and every export is checked by running it in Node with tfjs (`export.check`).
"""


class ExportError(RuntimeError):
    """Anything that stops an export, with the reason: a model the tfjs format cannot express, a missing model or
    data file, or a bundle that does not run in Node or does not agree with Keras."""
