"""Faces found in large photos of many small faces: the whole-frame pass against the tiled search of a photo.

    nice -n 5 .venv/bin/python -m bench.photo_faces

Collages made here, never saved: (a) 8 media photos in 300x236 cells of a 2400x1260 frame (11 faces);
(b) 24 footage photos with one labelled face each (footage/photos_labels.csv), 400x315 cells of a 2400x1260 frame;
(c) 30 of them (some twice) in 640x432 cells of a 3840x2160 (4K) frame; each photo scaled to fit its cell. For each:
the faces the detector finds in each cell on its own (what can be found at all), in the whole frame (`detect`), and in
the tiled search (`detect_tiled`, what photos get) with its wall time, without and with the finer tile grid whose
boxes the face check confirms. Then, for the footage collages, the cells whose face the apps label (a box of at least
`MIN_JUDGED_SIDE` px, so a mask label and an alert: `FacePipeline.process(photo=True)` with the shipped models), for
the whole collage and for each cell processed as a photo of its own.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from core.detector import TILING, FaceDetector
from core.pipeline import MIN_JUDGED_SIDE, FacePipeline
from tests.harness import (
    COLLAGE_PHOTOS,
    FOOTAGE_COLLAGES,
    MEDIA_FACES,
    cell_of,
    cells_with_a_box,
    footage_collage,
    media_collage,
)
from train.data import data_dir


def cell_frames(frame, cell):
    """Each (width, height) cell of a collage, as a photo of its own."""
    width, height = cell
    for y in range(0, frame.shape[0] - height + 1, height):
        for x in range(0, frame.shape[1] - width + 1, width):
            yield np.ascontiguousarray(frame[y : y + height, x : x + width])


def cells_alone(detector, frame, cell) -> int:
    return sum(len(detector.detect(photo)) for photo in cell_frames(frame, cell))


def cells_labelled(pipeline: FacePipeline, frame, cell) -> int:
    """Cells of a footage collage (one face each) holding a face the apps label, i.e. one not too small to judge."""
    return len({cell_of(face["box"], cell) for face in pipeline.process(frame, photo=True).faces if not face["too_small"]})


def cells_labelled_alone(pipeline: FacePipeline, frame, cell) -> int:
    return sum(cells_labelled(pipeline, photo, cell) > 0 for photo in cell_frames(frame, cell))


def main() -> None:
    root = data_dir()
    collages = [("8 media photos, 2400x1260", media_collage(root / "media"), (300, 236),
                 sum(MEDIA_FACES[name] for name in COLLAGE_PHOTOS))]
    for name, layout in FOOTAGE_COLLAGES.items():
        frame = footage_collage(root / "footage", name)
        collages.append((f"{name} footage photos, {frame.shape[1]}x{frame.shape[0]}", frame, layout["cell"],
                         layout["photos"]))
    detector = FaceDetector()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; tiling {TILING}")
    print("| photo | faces | found in each cell alone | whole frame: boxes | tiled search: boxes (cells with a box + "
          "extra boxes in a cell), time: 480 px tiles only | the same + 400 px tiles checked (shipped) |")
    print("|---|---|---|---|---|---|")
    fine_side = TILING["fine_tile_side"]
    for name, frame, cell, faces in collages:
        results = []
        for fine in (None, fine_side):  # without and with the finer grid, in one run
            TILING["fine_tile_side"] = fine
            start = time.perf_counter()
            tiled = detector.detect_tiled(frame)
            seconds = time.perf_counter() - start
            cells, extra = cells_with_a_box(tiled, cell)
            results.append(f"{len(tiled)} ({cells} + {extra}), {seconds:.2f} s")
        TILING["fine_tile_side"] = fine_side
        print(f"| {name} | {faces} | {cells_alone(detector, frame, cell)} | {len(detector.detect(frame))} | "
              f"{' | '.join(results)} |")
    pipeline = FacePipeline()
    print(f"\n| photo | faces | cells with a labelled face (box of at least {MIN_JUDGED_SIDE} px): tiled search | "
          "each cell as a photo of its own |")
    print("|---|---|---|---|")
    for name, frame, cell, faces in collages[1:]:  # the footage collages: one face per cell
        print(f"| {name} | {faces} | {cells_labelled(pipeline, frame, cell)} | {cells_labelled_alone(pipeline, frame, cell)} |")


if __name__ == "__main__":
    main()
