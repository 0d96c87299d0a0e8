"""train.augment: one Keras preprocessing pipeline, its camera degradations (used by the mask training) on real
face-mask photos, and the pipeline inside tf.data as training runs it."""

import numpy as np
import pytest

from train.augment import AugmentConfig, augment_batch, augmentation_pipeline, training_dataset
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
    np.testing.assert_allclose(np.asarray(augment_batch(x, AugmentConfig(**PLAIN))), x, atol=1e-3)


def test_the_pipeline_is_keras_layers_in_the_documented_order():
    from train.train import TASK_DEFAULTS

    names = [type(layer).__name__ for layer in augmentation_pipeline(TASK_DEFAULTS["mask"]["augment"]).layers]
    assert names == ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomLowResolution",
                     "RandomMotionBlur", "RandomColourCast", "RandomGrayscale", "RandomLowLight", "RandomBrightness",
                     "RandomContrast"]  # no erasing for masks (it could hide the mask)
    emotion = [type(layer).__name__ for layer in augmentation_pipeline(TASK_DEFAULTS["emotion"]["augment"]).layers]
    assert emotion == ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomBrightness",
                       "RandomContrast", "RandomErasing"]


def test_low_resolution_and_blur_remove_detail(facemask_dir):
    x = faces(facemask_dir)
    for field in ("lowres_probability", "blur_probability"):
        y = np.asarray(augment_batch(x, AugmentConfig(**PLAIN, **{field: 1.0})))
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
        # motion blur runs along one random axis, so the detail lost is judged on the axis that lost most
        # (an unchanged batch gives 1.0)
        assert (sharpness_per_axis(y) / sharpness_per_axis(x)).min() < 0.7, field
        # and with probability 0 the same layers change nothing (the control)
        z = np.asarray(augment_batch(x, AugmentConfig(**PLAIN, **{field: 0.0})))
        np.testing.assert_allclose(z, x, atol=1e-3)


def test_gray_and_colour_cast(facemask_dir):
    x = faces(facemask_dir)
    gray = np.asarray(augment_batch(x, AugmentConfig(**PLAIN, gray_probability=1.0)))
    assert np.allclose(gray[..., 0], gray[..., 1], atol=1e-3) and np.allclose(gray[..., 1], gray[..., 2], atol=1e-3)
    assert not np.allclose(x[..., 0], x[..., 1], atol=1e-3)  # the photos were in colour
    cast = np.asarray(augment_batch(x, AugmentConfig(**PLAIN, max_color_cast=0.3)))
    ratios = cast.reshape(len(x), -1, 3).mean(axis=1) / np.maximum(x.reshape(len(x), -1, 3).mean(axis=1), 1)
    assert np.ptp(ratios, axis=1).max() > 0.05  # the channels were scaled differently


def test_low_light_darkens_whole_faces(facemask_dir):
    from train.augment import DARK_GAIN

    x = faces(facemask_dir).astype(np.float32)
    dark = np.asarray(augment_batch(x, AugmentConfig(**PLAIN, dark_probability=1.0)))
    gains = dark.reshape(len(x), -1).mean(axis=1) / x.reshape(len(x), -1).mean(axis=1)
    assert (gains >= DARK_GAIN[0] - 1e-3).all() and (gains <= DARK_GAIN[1] + 1e-3).all()
    # one gain per face: the picture is darker, not changed in shape
    np.testing.assert_allclose(dark, x * gains[:, None, None, None], atol=0.05)


@pytest.mark.parametrize("task", ["emotion", "mask"])
def test_the_pipeline_runs_in_tf_data_and_a_seed_repeats_it(facemask_dir, task):
    """Each task's whole recipe inside the tf.data map (graph mode, as training runs it): every batch in range and
    augmented; the same seed gives the same augmentation, another seed another one (the control)."""
    from train.train import TASK_DEFAULTS

    x = faces(facemask_dir, 16)
    if task == "emotion":
        x = x.mean(axis=3, keepdims=True).astype(np.uint8)[:, 8:56, 8:56]
    labels = np.eye(2, dtype=np.float32)[np.arange(16) % 2]
    config = TASK_DEFAULTS[task]["augment"]
    assert augmentation_pipeline(config, seed=5).layers[0].seed == 5

    def batches(seed):
        import keras

        keras.utils.set_random_seed(seed)
        return [np.asarray(images) for images, _ in training_dataset(x, labels, 8, seed, config)]

    first, again, other = batches(1), batches(1), batches(2)
    for batch in first:
        assert batch.shape == (8, *x.shape[1:]) and batch.dtype == np.float32
        assert batch.min() >= 0 and batch.max() <= 255
    assert sorted(map(float, np.concatenate(first).reshape(16, -1).sum(1))) != \
        sorted(map(float, x.astype(np.float32).reshape(16, -1).sum(1)))  # augmented, not passed through
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    assert not np.array_equal(np.concatenate(first), np.concatenate(other))
