"""train.data: FER2013 from the Kaggle CSV (plain and gzip) and from image folders; bad input named precisely."""

import gzip

import cv2
import numpy as np
import pytest

from core.labels import EMOTIONS
from train.data import DataError, load_fer2013, load_fer2013_csv, load_image_folder

HEADER = "emotion,pixels,Usage\n"


def _row(label, pixels, usage="Training"):
    return f"{label},{' '.join(str(int(p)) for p in np.ravel(pixels))},{usage}\n"


@pytest.fixture(scope="module")
def real_rows(fer_csv):
    """The first 60 Training and 20 PublicTest rows of the real CSV, as (header, lines)."""
    with gzip.open(fer_csv, "rt") as handle:
        header = handle.readline()
        lines = [line for _, line in zip(range(60), handle)]
    public = []
    with gzip.open(fer_csv, "rt") as handle:
        for line in handle:
            if line.rstrip().endswith("PublicTest"):
                public.append(line)
                if len(public) == 20:
                    break
    return header, lines + public


def test_csv_plain_and_gzip_load_the_same(tmp_path, real_rows):
    header, lines = real_rows
    plain = tmp_path / "fer.csv"
    plain.write_text(header + "".join(lines))
    packed = tmp_path / "fer.csv.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write(header + "".join(lines))
    x1, y1, report = load_fer2013_csv(plain)
    x2, y2, _ = load_fer2013(packed)
    assert x1.shape == (80, 48, 48, 1) and x1.dtype == np.uint8
    assert report.rows_read == 80 and not report.skipped
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    first = np.array(lines[0].split(",")[1].split(), dtype=np.uint8)
    np.testing.assert_array_equal(x1[0].ravel(), first)
    assert y1[0] == int(lines[0].split(",")[0])


def test_usage_filter_is_case_insensitive_and_optional(tmp_path, real_rows):
    header, lines = real_rows
    path = tmp_path / "fer.csv"
    path.write_text(header + "".join(lines))
    x_train, _, _ = load_fer2013(path, usage="training")
    x_test, _, _ = load_fer2013(path, usage="PublicTest")
    assert (len(x_train), len(x_test)) == (60, 20)
    no_usage = tmp_path / "no_usage.csv"
    no_usage.write_text("emotion,pixels\n" + "".join(",".join(line.split(",")[:2]) + "\n" for line in lines))
    assert len(load_fer2013(no_usage)[0]) == 80
    with pytest.raises(DataError, match="no Usage column"):
        load_fer2013(no_usage, usage="Training")


@pytest.mark.parametrize(
    "bad_line, expected",
    [
        ("3," + " ".join(["1"] * 2303) + ",Training\n", r"row 3: field 'pixels' has 2303 values, expected 2304"),
        ("3," + " ".join(["1"] * 2303) + " x7,Training\n", r"row 3: field 'pixels': value 2303 is 'x7', expected an integer"),
        ("9," + " ".join(["1"] * 2304) + ",Training\n", r"row 3: field 'emotion' is '9', expected an integer 0-6"),
        ("3," + " ".join(["300"] * 2304) + ",Training\n", r"row 3: field 'pixels' has values from 300 to 300, expected 0-255"),
        ("3\n", r"row 3: has 1 fields, expected 3"),
    ],
)
def test_bad_rows_are_named_or_skipped(tmp_path, bad_line, expected):
    good = _row(3, np.full(2304, 7))
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + good + bad_line + good)
    with pytest.raises(DataError, match=expected) as error:
        load_fer2013_csv(path)
    assert str(path) in str(error.value) and "--skip-bad-rows" in str(error.value)
    images, labels, report = load_fer2013_csv(path, skip_bad_rows=True)
    assert len(images) == 2 and len(report.skipped) == 1 and "row 3" in report.skipped[0]
    assert "1 bad rows skipped" in report.summary()


def test_missing_column_empty_file_and_missing_file(tmp_path):
    (tmp_path / "cols.csv").write_text("label,pixels\n1,2 3\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['emotion'\]"):
        load_fer2013_csv(tmp_path / "cols.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_fer2013_csv(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="no such file"):
        load_fer2013(tmp_path / "absent.csv")
    (tmp_path / "only_bad.csv").write_text(HEADER + "3,1 2,Training\n")
    with pytest.raises(DataError, match="no usable rows"):
        load_fer2013_csv(tmp_path / "only_bad.csv", skip_bad_rows=True)


def _write_folder_release(root, images, labels, split_names=("train", "test")):
    """FER2013 image release layout ROOT/<split>/<Class>/*.png, with mixed-case class names."""
    for split in split_names:
        for i, (image, label) in enumerate(zip(images, labels)):
            name = EMOTIONS[label].capitalize() if label % 2 else EMOTIONS[label].upper()
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{split}_{i:04d}.png"), image[:, :, 0])
        for label in range(len(EMOTIONS)):  # every class folder exists, even when empty
            name = EMOTIONS[label].capitalize() if label % 2 else EMOTIONS[label].upper()
            (root / split / name).mkdir(parents=True, exist_ok=True)


def test_folder_layout_matches_csv(tmp_path, real_rows):
    header, lines = real_rows
    csv_path = tmp_path / "fer.csv"
    csv_path.write_text(header + "".join(lines[:30]))
    images, labels, _ = load_fer2013_csv(csv_path)
    _write_folder_release(tmp_path / "release", images, labels)
    x_train, y_train, _ = load_fer2013(tmp_path / "release", usage="Training")
    x_test, y_test, _ = load_fer2013(tmp_path / "release", usage="PublicTest")
    assert len(x_train) == len(x_test) == 30
    # Folder order is by class, then file name: compare as sorted multisets of (label, image bytes).
    key = lambda x, y: sorted((int(label), im.tobytes()) for im, label in zip(x, y))  # noqa: E731
    assert key(x_train, y_train) == key(images, labels)
    x_class, _, _ = load_fer2013(tmp_path / "release" / "train")
    assert len(x_class) == 30
    with pytest.raises(DataError, match="no split folder for usage 'PrivateTest'"):
        load_fer2013(tmp_path / "release", usage="PrivateTest")


def test_folder_with_bad_file_and_missing_class(tmp_path):
    root = tmp_path / "faces"
    for label in EMOTIONS:
        (root / label).mkdir(parents=True)
        cv2.imwrite(str(root / label / "a.png"), np.full((48, 48), 100, np.uint8))
    (root / "happy" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken\.png: not a readable image file"):
        load_image_folder(root, EMOTIONS, 48, 1)
    images, labels, report, _ = load_image_folder(root, EMOTIONS, 48, 1, skip_bad_rows=True)
    assert len(images) == 7 and len(report.skipped) == 1
    (root / "happy" / "broken.png").unlink()
    for path in (root / "sad").iterdir():
        path.unlink()
    (root / "sad").rmdir()
    with pytest.raises(DataError, match=r"class folder\(s\) \['sad'\] not found"):
        load_image_folder(root, EMOTIONS, 48, 1)
