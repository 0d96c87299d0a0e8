"""The camera degradations of train.augment (used by the mask training) on real face-mask photos, and the Keras
augmentation that has none refusing a recipe that needs them."""

import numpy as np
import pytest

from train.augment import AugmentConfig, augment_batch
from train.data import read_image

PLAIN = dict(flip=False, max_rotation_deg=0.0, max_zoom=0.0, max_shift=0.0, max_brightness=0.0, max_contrast=0.0,
             erase_probability=0.0)


def faces(facemask_dir, n=8):
    paths = sorted((facemask_dir / "with_mask").glob("*.jpg"))[:n]
    return np.stack([read_image(p, 64, 3) for p in paths])


def sharpness_per_axis(x):
    """Mean absolute second difference down the rows and along the columns: the fine detail blur removes."""
    x = np.asarray(x, np.float32)
    return np.array([np.abs(np.diff(x, n=2, axis=1)).mean(), np.abs(np.diff(x, n=2, axis=2)).mean()])


def test_plain_config_changes_nothing(facemask_dir):
    x = faces(facemask_dir)
    np.testing.assert_allclose(augment_batch(x, AugmentConfig(**PLAIN)).numpy(), x, atol=1e-3)


def test_low_resolution_and_blur_remove_detail(facemask_dir):
    x = faces(facemask_dir)
    for field in ("lowres_probability", "blur_probability"):
        y = augment_batch(x, AugmentConfig(**PLAIN, **{field: 1.0})).numpy()
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
        # motion blur runs along one random axis, so the detail lost is judged on the axis that lost most
        # (over 40 draws the ratio stayed under 0.5; an unchanged batch gives 1.0)
        assert (sharpness_per_axis(y) / sharpness_per_axis(x)).min() < 0.7, field


def test_gray_and_colour_cast(facemask_dir):
    x = faces(facemask_dir)
    gray = augment_batch(x, AugmentConfig(**PLAIN, gray_probability=1.0)).numpy()
    assert np.allclose(gray[..., 0], gray[..., 1], atol=1e-3) and np.allclose(gray[..., 1], gray[..., 2], atol=1e-3)
    cast = augment_batch(x, AugmentConfig(**PLAIN, max_color_cast=0.3)).numpy()
    ratios = cast.reshape(len(x), -1, 3).mean(axis=1) / np.maximum(x.reshape(len(x), -1, 3).mean(axis=1), 1)
    assert np.ptp(ratios, axis=1).max() > 0.05  # the channels were scaled differently


def test_low_light_darkens_whole_faces(facemask_dir):
    from train.augment import DARK_GAIN

    x = faces(facemask_dir).astype(np.float32)
    dark = augment_batch(x, AugmentConfig(**PLAIN, dark_probability=1.0)).numpy()
    gains = dark.reshape(len(x), -1).mean(axis=1) / x.reshape(len(x), -1).mean(axis=1)
    assert (gains >= DARK_GAIN[0] - 1e-3).all() and (gains <= DARK_GAIN[1] + 1e-3).all()
    # one gain per face: the picture is darker, not changed in shape
    np.testing.assert_allclose(dark, x * gains[:, None, None, None], atol=0.05)


def test_the_keras_augmentation_refuses_the_camera_degradations_it_does_not_have():
    """`--augment keras` has the warp, jitter and erasing but no degradation: the mask recipe (which needs them) is
    refused by the augmenter and by the command line, with the reason, instead of training without them."""
    import subprocess
    import sys

    from tests.harness import REPO
    from train.augment import keras_augmenter
    from train.train import TASK_DEFAULTS

    keras_augmenter(TASK_DEFAULTS["emotion"]["augment"])  # no degradation asked: built
    with pytest.raises(ValueError, match="no camera degradations"):
        keras_augmenter(TASK_DEFAULTS["mask"]["augment"])
    result = subprocess.run([sys.executable, "-m", "train.train", "--task", "mask", "--augment", "keras"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--augment keras has no camera degradations" in result.stderr and "Traceback" not in result.stderr
