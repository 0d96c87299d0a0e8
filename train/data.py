"""Loading the data sets: FER2013 (Kaggle CSV or image folders) and the face-mask image folders.

Every loader returns `(images, labels)`: `images` uint8 of shape (N, H, W, C), `labels` int64 class indices in the
order of `core.labels`. Bad input raises `DataError` naming the file, the row and what was expected; with
`skip_bad_rows=True` the bad rows are counted and reported instead (`LoadReport`). `grouped_split` holds out a
validation split of a folder that keeps near-duplicate photos together (the face-mask folder has no split of its own).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.labels import EMOTIONS

FER_SIZE = 48
FER_PIXELS = FER_SIZE * FER_SIZE
FER_COLUMNS = ("emotion", "pixels")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
DATA_DIR_ENV = "FACEXP_DATA"
FER2013_CSV = "fer2013/fer2013_train_public.csv.gz"  # FER2013 (Kaggle CSV, gzipped), relative to data_dir()
TRAIN_USAGE, VALIDATION_USAGE = "Training", "PublicTest"  # FER2013's Usage column: train.train's two splits
MANIFEST_FILE = "manifest.csv"  # beside a face-mask folder's class folders: file -> near-duplicate group
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


class DataError(ValueError):
    """Input data that cannot be used, with the place it was found."""


@dataclass
class LoadReport:
    """What a loader read and what it skipped."""

    source: str
    rows_read: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.source}: {self.rows_read} rows loaded"
        if self.skipped:
            text += f", {len(self.skipped)} bad rows skipped (first: {self.skipped[0]})"
        return text

    def skip_or_raise(self, message: str, skip_bad_rows: bool, what: str) -> None:
        """A bad row or file: noted when skipping them, else a DataError saying how to skip such `what`."""
        if not skip_bad_rows:
            raise DataError(f"{message} (use --skip-bad-rows to skip such {what})") from None
        self.skipped.append(message)


def data_dir() -> Path:
    """The folder holding `fer2013/`, `facemask/` and `media/` (env FACEXP_DATA, default ../shared/data)."""
    return Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR))


# ---------------------------------------------------------------------------------------------------------------------
# FER2013, Kaggle CSV layout: emotion,pixels[,Usage]
# ---------------------------------------------------------------------------------------------------------------------


def _open_text(path: Path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parse_pixels(text: str) -> np.ndarray:
    """Parse '70 80 ...' into int32 values; raises ValueError naming the first non-numeric value."""
    parts = text.split()
    try:
        return np.array(parts, dtype=np.int32)
    except ValueError:
        for i, part in enumerate(parts):
            if not part.lstrip("-").isdigit():
                raise ValueError(f"value {i} is {part!r}, expected an integer 0-255") from None
        raise


def load_fer2013_csv(
    path: str | Path, usage: str | None = None, skip_bad_rows: bool = False
) -> tuple[np.ndarray, np.ndarray, LoadReport]:
    """Load a FER2013 CSV (plain or gzip). `usage` keeps only rows whose Usage column equals it (case-insensitive).

    Returns images (N, 48, 48, 1) uint8, labels (N,) int64 and a LoadReport.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    report = LoadReport(source=str(path))
    images: list[np.ndarray] = []
    labels: list[int] = []
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: the file is empty, expected a header 'emotion,pixels[,Usage]'") from None
        except (UnicodeDecodeError, OSError, EOFError, csv.Error) as error:
            raise DataError(f"{path}: not a readable CSV file ({error})") from None
        columns = [name.strip().lower() for name in header]
        missing = [name for name in FER_COLUMNS if name not in columns]
        if missing:
            raise DataError(
                f"{path}: header row is missing column(s) {missing}; found {header}, expected emotion,pixels[,Usage]"
            )
        emotion_col, pixels_col = columns.index("emotion"), columns.index("pixels")
        usage_col = columns.index("usage") if "usage" in columns else None
        if usage is not None and usage_col is None:
            raise DataError(f"{path}: --usage {usage} was asked for, but the file has no Usage column")
        wanted_usage = usage.lower() if usage else None
        line = 1
        try:
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if wanted_usage is not None:
                    if len(row) <= usage_col or row[usage_col].strip().lower() != wanted_usage:
                        continue
                try:
                    if len(row) < len(columns):
                        raise ValueError(f"has {len(row)} fields, expected {len(columns)}")
                    label_text = row[emotion_col].strip()
                    if not label_text.isdigit() or not 0 <= int(label_text) < len(EMOTIONS):
                        raise ValueError(f"field 'emotion' is {label_text!r}, expected an integer 0-{len(EMOTIONS) - 1}")
                    try:
                        pixels = _parse_pixels(row[pixels_col])
                    except ValueError as error:
                        raise ValueError(f"field 'pixels': {error}") from None
                    if pixels.size != FER_PIXELS:
                        raise ValueError(f"field 'pixels' has {pixels.size} values, expected {FER_PIXELS} (48x48)")
                    if pixels.min() < 0 or pixels.max() > 255:
                        raise ValueError(
                            f"field 'pixels' has values from {pixels.min()} to {pixels.max()}, expected 0-255"
                        )
                except ValueError as error:
                    report.skip_or_raise(f"{path}, row {line}: {error}", skip_bad_rows, "rows")
                    continue
                images.append(pixels.astype(np.uint8).reshape(FER_SIZE, FER_SIZE, 1))
                labels.append(int(label_text))
        except (UnicodeDecodeError, EOFError, OSError, csv.Error) as error:
            raise DataError(f"{path}, near row {line}: cannot read the file ({error})") from None
    if not images:
        what = f" with Usage={usage}" if usage else ""
        raise DataError(f"{path}: no usable rows{what} (skipped {len(report.skipped)} bad rows)")
    report.rows_read = len(images)
    return np.stack(images), np.asarray(labels, dtype=np.int64), report


# ---------------------------------------------------------------------------------------------------------------------
# Image folders: ROOT/<class>/*.png|jpg (FER2013 release layout ROOT/<split>/<class>/, face-mask layout)
# ---------------------------------------------------------------------------------------------------------------------


def read_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """Read an image file as uint8 (size, size, channels): grayscale for channels=1, RGB for channels=3."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a readable image file")
    if channels == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image.reshape(size, size, channels)


def load_image_folder(
    root: str | Path,
    class_names: tuple[str, ...],
    size: int,
    channels: int,
    skip_bad_rows: bool = False,
) -> tuple[np.ndarray, np.ndarray, LoadReport, list[Path]]:
    """Load ROOT/<class>/* for every class in `class_names` (folder names matched case-insensitively).

    Returns images (N, size, size, channels) uint8, labels, a LoadReport and the file paths.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    folders = {child.name.lower(): child for child in root.iterdir() if child.is_dir()}
    missing = [name for name in class_names if name.lower() not in folders]
    if missing:
        raise DataError(
            f"{root}: class folder(s) {missing} not found; found {sorted(folders)}, expected one per class {list(class_names)}"
        )
    report = LoadReport(source=str(root))
    images, labels, paths = [], [], []
    for index, name in enumerate(class_names):
        for path in sorted(folders[name.lower()].iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                images.append(read_image(path, size, channels))
            except ValueError as error:
                report.skip_or_raise(f"{path}: {error}", skip_bad_rows, "files")
                continue
            labels.append(index)
            paths.append(path)
    if not images:
        raise DataError(f"{root}: no images found in the class folders (looked for {', '.join(IMAGE_SUFFIXES)})")
    report.rows_read = len(images)
    return np.stack(images), np.asarray(labels, dtype=np.int64), report, paths


def _split_folder(root: Path, usage: str) -> Path:
    """Map a Usage name to a split folder of the FER2013 image release (train/, test/, ...)."""
    aliases = {
        "training": ("train", "training"),
        "publictest": ("test", "publictest", "val", "validation"),
        "privatetest": ("privatetest",),
    }
    wanted = aliases.get(usage.lower(), (usage.lower(),))
    for child in root.iterdir():
        if child.is_dir() and child.name.lower() in wanted:
            return child
    raise DataError(f"{root}: no split folder for usage {usage!r}; looked for {list(wanted)}")


def load_fer2013(
    path: str | Path, usage: str | None = None, skip_bad_rows: bool = False
) -> tuple[np.ndarray, np.ndarray, LoadReport]:
    """Load FER2013 from a CSV(.gz) file or a folder (ROOT/<split>/<class>/ or ROOT/<class>/)."""
    path = Path(path)
    if path.is_file():
        return load_fer2013_csv(path, usage=usage, skip_bad_rows=skip_bad_rows)
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")
    has_classes = {child.name.lower() for child in path.iterdir() if child.is_dir()} >= set(EMOTIONS)
    folder = path if (has_classes or usage is None) else _split_folder(path, usage)
    images, labels, report, _ = load_image_folder(folder, EMOTIONS, FER_SIZE, 1, skip_bad_rows=skip_bad_rows)
    return images, labels, report


def grouped_split(paths, labels, fraction: float, seed: int) -> np.ndarray:
    """Validation indices: whole near-duplicate groups (from the folder's MANIFEST_FILE when present), about `fraction`
    of each class, the groups drawn in a seeded random order."""
    groups = {}
    manifest = Path(paths[0]).parent.parent / MANIFEST_FILE
    if manifest.is_file():
        with open(manifest, newline="") as handle:
            groups = {row["file"]: row["dup_group"] for row in csv.DictReader(handle)}
    keys = [groups.get(f"{Path(p).parent.name}/{Path(p).name}", str(p)) for p in paths]
    rng = np.random.default_rng(seed)
    val = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        by_group = {}
        for i in members:
            by_group.setdefault(keys[i], []).append(i)
        order = list(by_group)
        rng.shuffle(order)
        target, taken = fraction * len(members), []
        for key in order:
            if len(taken) >= target:
                break
            taken.extend(by_group[key])
        val.extend(taken)
    return np.array(sorted(val))
