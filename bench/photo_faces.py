"""Faces found in large photos of many small faces: the whole-frame pass against the tiled search of a photo.

    nice -n 5 .venv/bin/python -m bench.photo_faces

Collages made here, never saved: (a) 8 media photos in 300x236 cells of a 2400x1260 frame (11 faces);
(b) 24 footage photos with one labelled face each (footage/photos_labels.csv), 400x315 cells of a 2400x1260 frame;
(c) 30 of them (some twice) in 640x432 cells of a 3840x2160 (4K) frame. For each: the faces the detector finds in each
cell on its own (what can be found at all), in the whole frame (`detect`), and in the tiled search (`detect_tiled`,
what photos get), with its wall time.
"""

from __future__ import annotations

import csv
import os
import platform
import time

import cv2
import numpy as np

from core.detector import TILING, FaceDetector
from tests.harness import COLLAGE_PHOTOS, MEDIA_FACES, media_collage, read_rgb
from train.data import data_dir


def grid(images, columns: int, cell: tuple[int, int]) -> np.ndarray:
    cells = [cv2.resize(image, cell, interpolation=cv2.INTER_AREA) for image in images]
    return np.vstack([np.hstack(cells[i : i + columns]) for i in range(0, len(cells), columns)])


def cells_alone(detector, frame, cell) -> int:
    width, height = cell
    return sum(len(detector.detect(np.ascontiguousarray(frame[y : y + height, x : x + width])))
               for y in range(0, frame.shape[0] - height + 1, height) for x in range(0, frame.shape[1] - width + 1, width))


def cells_with_a_box(detections, cell: tuple[int, int]) -> tuple[int, int]:
    """(cells whose face got a box, boxes beyond one per cell): each collage cell holds one face (the media cells
    count their faces apart), so a second box in a cell is a duplicate or a false face, not a find."""
    width, height = cell
    cells = [(int((d.box[0] + d.box[2] / 2) // width), int((d.box[1] + d.box[3] / 2) // height)) for d in detections]
    return len(set(cells)), len(cells) - len(set(cells))


def main() -> None:
    root = data_dir()
    footage = root / "footage"
    with open(footage / "photos_labels.csv", newline="") as handle:
        single = [footage / row["file"] for row in csv.DictReader(handle) if row["faces"] == "1"]
    photos = [read_rgb(path) for path in single]
    collages = [
        ("8 media photos, 2400x1260", media_collage(root / "media"), (300, 236),
         sum(MEDIA_FACES[name] for name in COLLAGE_PHOTOS)),
        ("24 footage photos, 2400x1260", grid(photos[:24], 6, (400, 315)), (400, 315), 24),
        ("30 footage photos, 3840x2160", grid((photos * 2)[:30], 6, (640, 432)), (640, 432), 30),
    ]
    detector = FaceDetector()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; tiling {TILING}")
    print("| photo | faces | found in each cell alone | whole frame: boxes | tiled search: boxes (cells with a box + "
          "extra boxes in a cell) | tiled search time |")
    print("|---|---|---|---|---|---|")
    for name, frame, cell, faces in collages:
        whole = len(detector.detect(frame))
        start = time.perf_counter()
        tiled = detector.detect_tiled(frame)
        seconds = time.perf_counter() - start
        cells, extra = cells_with_a_box(tiled, cell)
        print(f"| {name} | {faces} | {cells_alone(detector, frame, cell)} | {whole} | {len(tiled)} ({cells} + {extra}) "
              f"| {seconds:.2f} s |")


if __name__ == "__main__":
    main()
