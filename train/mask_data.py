"""The mask task's images: face-mask folder photos cropped as the apps crop them, plus drawn masks and hard negatives.

1. Every photo of the face-mask folder (training and validation alike) is cropped the way the apps crop a face: the
   largest face `core.detector` finds, cut by `core.preprocess.crop_face` (1.2 x the box). A photo where no face is
   found is used whole (resized), as before. So the network learns on the framing it sees on video.
2. Training only, for each bare photo with a face found: a copy with a mask drawn from the face's keypoints
   (`train.mask_synthesis.draw_mask`, `with_mask`) and, for COLLAR_FRACTION of them, a copy with a collar or scarf
   under the chin (`without_mask`: a hard negative).
3. Training only: `fer_count` FER2013 Training faces (nobody in FER2013 wears a mask), enlarged to FER_SIZE_UP, given a
   random skin-like colour (`tint`; FER2013 is grey and grey must be no cue) and cropped the same way: bare
   (`without_mask`), and for FER_MASKED_FRACTION of them also a copy with a drawn mask (`with_mask`).
Validation stays the folder's grouped split of real photos (no drawn image in it): `train.data.grouped_split`,
MASK_VALIDATION_FRACTION of each class. `load_mask_data` puts the three together for `train.train` and
`train.calibrate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.labels import MASK_LABELS
from train import log as log_to_stderr

WITH_MASK, WITHOUT_MASK = MASK_LABELS.index("with_mask"), MASK_LABELS.index("without_mask")
MASK_VALIDATION_FRACTION = 0.15
COLLAR_FRACTION = 0.3
FER_SIZE_UP = 144  # FER2013's 48-pixel faces enlarged so that the detector finds them and the crop is not tiny
FER_MASKED_FRACTION = 0.5


def largest_face(image_rgb: np.ndarray, detector):
    detections = detector.detect(image_rgb)
    return max(detections, key=lambda d: d.box[2] * d.box[3]) if detections else None


def app_crop(image_rgb: np.ndarray, detection, size: int) -> np.ndarray:
    """The crop the apps would classify (uint8 RGB, size x size)."""
    from core.preprocess import crop_face

    return crop_face(image_rgb, detection.box, size, 3).round().astype(np.uint8)


def read_rgb(path) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def app_crops(paths, whole_images: np.ndarray, size: int, detector):
    """Yield (index, photo, largest face or None, crop): each photo cropped as the apps crop its largest face, or the
    photo resized whole (`whole_images[index]`) where no face is found."""
    for i, path in enumerate(paths):
        image = read_rgb(path)
        face = largest_face(image, detector)
        yield i, image, face, (whole_images[i] if face is None else app_crop(image, face, size))


def folder_examples(paths, labels, whole_images, train_index, size: int, seed: int, detector):
    """(crops of all photos, their labels, drawn training crops, their labels, counts) for the face-mask folder.
    `whole_images` are the photos resized whole (used where no face is found)."""
    from train.mask_synthesis import draw_collar, draw_mask

    rng = np.random.default_rng(seed)
    training = set(int(i) for i in train_index)
    crops = whole_images.copy()
    drawn, drawn_labels = [], []
    counts = {"face_found": 0, "masks_drawn": 0, "collars_drawn": 0}
    for i, image, face, crop in app_crops(paths, whole_images, size, detector):
        crops[i] = crop
        if face is None:
            continue
        counts["face_found"] += 1
        if i in training and labels[i] == WITHOUT_MASK:
            drawn.append(app_crop(draw_mask(image, face.keypoints, rng), face, size))
            drawn_labels.append(WITH_MASK)
            counts["masks_drawn"] += 1
            if rng.random() < COLLAR_FRACTION:
                drawn.append(app_crop(draw_collar(image, face.keypoints, rng), face, size))
                drawn_labels.append(WITHOUT_MASK)
                counts["collars_drawn"] += 1
    drawn = np.stack(drawn) if drawn else np.zeros((0, size, size, 3), np.uint8)
    return crops, drawn, np.asarray(drawn_labels, np.int64), counts


def fer_examples(fer_faces: np.ndarray, size: int, seed: int, detector):
    """Bare FER2013 faces (N, 48, 48, 1) -> (crops, labels, counts): tinted, cropped as the apps crop, and some with
    a drawn mask."""
    import cv2

    from train.mask_synthesis import draw_mask, tint

    rng = np.random.default_rng(seed + 1)
    crops, labels = [], []
    counts = {"fer_faces": len(fer_faces), "fer_face_found": 0, "fer_masks_drawn": 0}
    for face48 in fer_faces:
        grey = cv2.resize(face48[..., 0], (FER_SIZE_UP, FER_SIZE_UP), interpolation=cv2.INTER_CUBIC)
        image = tint(np.repeat(grey[..., None], 3, axis=2), rng)
        face = largest_face(image, detector)
        if face is None:
            crops.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
            labels.append(WITHOUT_MASK)
            continue
        counts["fer_face_found"] += 1
        crops.append(app_crop(image, face, size))
        labels.append(WITHOUT_MASK)
        if rng.random() < FER_MASKED_FRACTION:
            crops.append(app_crop(draw_mask(image, face.keypoints, rng), face, size))
            labels.append(WITH_MASK)
            counts["fer_masks_drawn"] += 1
    return np.stack(crops), np.asarray(labels, np.int64), counts


def fer2013_faces(path: Path, count: int, seed: int, log) -> np.ndarray:
    """`count` random FER2013 Training faces (count, 48, 48, 1) uint8 from `path`: nobody in FER2013 wears a mask."""
    from train.data import TRAIN_USAGE, load_fer2013

    faces, _, report = load_fer2013(path, usage=TRAIN_USAGE)
    log(report.summary())
    pick = np.random.default_rng(seed).choice(len(faces), size=min(count, len(faces)), replace=False)
    return faces[np.sort(pick)]


def load_mask_data(path: Path, size: int, seed: int, bare_faces: int, skip_bad_rows: bool = False, fer_path=None,
                   log=log_to_stderr):
    """The face-mask folder at `path` cropped as the apps crop faces (`size` x `size` RGB), its grouped validation
    split, and for training drawn masks, hard negatives and `bare_faces` FER2013 Training faces from `fer_path`
    (default: FER2013 under `train.data.data_dir()`). Returns ((x_train, y_train), (x_val, y_val), how the split
    was made)."""
    from core.detector import FaceDetector
    from train.data import FER2013_CSV, data_dir, grouped_split, load_image_folder

    whole, y, report, paths = load_image_folder(path, MASK_LABELS, size, 3, skip_bad_rows=skip_bad_rows)
    log(report.summary())
    val = grouped_split(paths, y, MASK_VALIDATION_FRACTION, seed)
    train = np.setdiff1d(np.arange(len(y)), val)
    detector = FaceDetector()
    crops, drawn, drawn_y, counts = folder_examples(paths, y, whole, train, size, seed, detector)
    x_train, y_train = np.concatenate([crops[train], drawn]), np.concatenate([y[train], drawn_y])
    how = (f"{100 * MASK_VALIDATION_FRACTION:.0f}% held out for validation, near-duplicate groups kept together "
           f"(seed {seed}); every photo cropped as the apps crop its largest face ({counts['face_found']} of "
           f"{len(y)} with a face found, the others used whole); training only: {counts['masks_drawn']} bare photos "
           f"with a drawn mask, {counts['collars_drawn']} with a collar or scarf (without_mask)")
    if bare_faces > 0:
        fer_faces = fer2013_faces(fer_path or data_dir() / FER2013_CSV, bare_faces, seed, log)
        fer_x, fer_y, fer_counts = fer_examples(fer_faces, size, seed, detector)
        x_train, y_train = np.concatenate([x_train, fer_x]), np.concatenate([y_train, fer_y])
        how += (f"; {fer_counts['fer_faces']} random FER2013 Training faces (seed {seed}), tinted, as "
                f"without_mask, {fer_counts['fer_masks_drawn']} of them also with a drawn mask")
    log(how)
    return (x_train, y_train), (crops[val], y[val]), how
