# %% [markdown]
# # Facial expression recognition, step by step
#
# The original project's workflow as a notebook, calling this project's own modules (nothing is copied here):
#
# 1. explore FER2013: samples per class and the class balance (`train.explore`),
# 2. generate augmented batches (`train.augment`),
# 3. build the original 4-convolution + 2-dense network (`train.networks.seed`),
# 4. train it briefly with live loss/accuracy plots (`train.run_folder.plot_history`),
# 5. save it as JSON + weights (`core.model_folder.save_model_folder`) and fit its temperature (`train.calibrate`),
# 6. load it with `FacialExpressionModel` and label a detected face (`core.detector`, `core.preprocess`),
# 7. evaluate it: confusion matrix and reliability diagram (`train.evaluate`, `train.calibration`).
#
# The training here is deliberately short (a few thousand faces, a few epochs on a CPU): it shows the workflow,
# not a good model. The shipped model (`models/emotion`) is trained with `python -m train.train` (see README).
# `make test` runs this notebook top to bottom on an even smaller subset (`WALKTHROUGH_ROWS`, `WALKTHROUGH_EPOCHS`).
#
# This file (`train/walkthrough.py`, cells marked `# %%`) is the source; `python -m train.build_walkthrough`
# writes and executes `train/walkthrough.ipynb` from it.

# %% [markdown]
# ## Setup

# %%
import os
import sys
import tempfile
from pathlib import Path

REPO = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "core" / "models.py").is_file())
sys.path.insert(0, str(REPO))  # Jupyter starts in the notebook's folder (train/); the project imports need the root
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from IPython.display import Image, clear_output, display

from core.labels import EMOTIONS
from train.data import data_dir, load_fer2013

TRAIN_ROWS = int(os.environ.get("WALKTHROUGH_ROWS", 4000))  # training faces used here (of 28,709)
VALIDATION_ROWS = TRAIN_ROWS // 4  # PublicTest faces used for validation and evaluation
EPOCHS = int(os.environ.get("WALKTHROUGH_EPOCHS", 4))
BATCH_SIZE = 64
SEED = 1337
CSV = Path(os.path.relpath(data_dir() / "fer2013" / "fer2013_train_public.csv.gz"))  # relative: no machine's path
WORK = Path(tempfile.mkdtemp(prefix="facexp-walkthrough-"))  # plots, the run's history and the model folder
print(f"data {CSV}\noutputs in {WORK}")

# %% [markdown]
# ## 1. Explore the dataset
#
# FER2013: 48x48 grayscale faces, seven expressions. `Training` rows train, `PublicTest` rows validate.

# %%
from train.explore import balance_chart, sample_grid

x_train, y_train, report = load_fer2013(CSV, usage="Training")
x_val, y_val, _ = load_fer2013(CSV, usage="PublicTest")
print(report.summary())
balance_chart({"Training": np.bincount(y_train, minlength=len(EMOTIONS)),
               "PublicTest": np.bincount(y_val, minlength=len(EMOTIONS))}, WORK / "class_balance.png")
display(Image(filename=str(WORK / "class_balance.png"), width=560))

# %% [markdown]
# Sample faces, one row per expression (with the number of training images of each). "disgust" is rare: training
# weighs classes by the square root of their rarity (`train.train --class-weight sqrt`).

# %%
import cv2

sample_grid(x_train, y_train, per_class=6, path=WORK / "samples.png", seed=SEED)
# stored as a one-channel PNG: the notebook stays small
cv2.imwrite(str(WORK / "samples_gray.png"), cv2.imread(str(WORK / "samples.png"), cv2.IMREAD_GRAYSCALE))
display(Image(filename=str(WORK / "samples_gray.png"), width=360))

# %% [markdown]
# ## 2. Augmented batches
#
# Random flips, rotations, zooms, shifts, brightness/contrast and erasing, Keras's own preprocessing layers in one
# `keras.layers.Pipeline`, on the fly in the `tf.data` pipeline (`train.augment.training_dataset`): each row below is
# the same face augmented again.

# %%
import keras
import matplotlib.pyplot as plt

from train.augment import AugmentConfig, augment_batch, evaluation_dataset, training_dataset

rng = np.random.default_rng(SEED)
rows = rng.choice(len(x_train), size=4, replace=False)
fig, axes = plt.subplots(4, 7, figsize=(7, 4.2))
for row, index in enumerate(rows):
    augmented = augment_batch(np.repeat(x_train[index][None], 6, axis=0)).numpy()
    for col, image in enumerate([x_train[index].astype(np.float32), *augmented]):
        axes[row, col].imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=255)
        axes[row, col].axis("off")
    axes[row, 0].set_title(EMOTIONS[y_train[index]], fontsize=8, loc="left")
fig.suptitle("original, then six augmentations", fontsize=9)
fig.tight_layout()
fig.savefig(WORK / "augmented.png", dpi=60)
plt.close(fig)
display(Image(filename=str(WORK / "augmented.png")))

# %% [markdown]
# ## 3. The original network
#
# Conv32-Conv64-Pool-Conv128-Pool-Conv128-Pool-Dense1024-Dense7 (`train.networks.seed`). The shipped model is the
# faster and more accurate `vggslim`, taught by `vggbn`; all take 0-255 pixels and rescale inside.

# %%
from train.networks import build_network

model = build_network("seed", (48, 48, 1), len(EMOTIONS))
model.summary()

# %% [markdown]
# ## 4. Train, with live loss and accuracy plots
#
# A small slice of the data and a few epochs: the curves are redrawn after every epoch from the run's
# `history.csv`, by the same `plot_history` that `python -m train.train` uses for `curves.png`.

# %%
from train.run_folder import plot_history

keras.utils.set_random_seed(SEED)
train_x, train_y = x_train[:TRAIN_ROWS], y_train[:TRAIN_ROWS]
val_x, val_y = x_val[:VALIDATION_ROWS], y_val[:VALIDATION_ROWS]
train_ds = training_dataset(train_x, keras.utils.to_categorical(train_y, len(EMOTIONS)), BATCH_SIZE, SEED,
                            AugmentConfig())
val_ds = evaluation_dataset(val_x, keras.utils.to_categorical(val_y, len(EMOTIONS)), 256)


class LivePlot(keras.callbacks.Callback):
    """After each epoch (once CSVLogger has written it): redraw the curves in place."""

    def on_epoch_end(self, epoch, logs=None):
        plot_history(WORK / "history.csv", WORK / "curves.png")
        clear_output(wait=True)
        display(Image(filename=str(WORK / "curves.png"), width=640))
        print(f"epoch {epoch + 1}/{EPOCHS}: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(logs.items())))


model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
history = model.fit(train_ds, validation_data=val_ds, epochs=EPOCHS, verbose=0,
                    callbacks=[keras.callbacks.CSVLogger(str(WORK / "history.csv")), LivePlot()])

# %% [markdown]
# ## 5. Save as JSON + weights, and fit a temperature
#
# A model folder is the architecture (`model.to_json()`), the weights and `metadata.json` (labels, input size,
# test-time augmentation). `train.calibrate.fit_and_store` then fits one temperature on the validation faces, so
# that a confidence of 0.8 is right about 80 % of the time, and stores it in `metadata.json`.

# %%
import json

from core.model_folder import make_metadata, save_model_folder
from export.litert import write_tflite
from train.calibrate import fit_and_store

folder = WORK / "seed_model"
write_tflite(folder, model=save_model_folder(model, folder, make_metadata("emotion", (48, 48, 1), ["flip"])))
print(sorted(p.name for p in folder.iterdir()))
print(model.to_json()[:200], "...")
calibration = fit_and_store(folder, val_x, val_y, f"first {VALIDATION_ROWS} PublicTest faces")
print(f"temperature {calibration['temperature']}: ECE {calibration['ece_uncalibrated']:.3f} -> {calibration['ece']:.3f}")
print(json.dumps(json.loads((folder / "metadata.json").read_text())["calibration"], indent=1))

# %% [markdown]
# ## 6. Load it with `FacialExpressionModel` and label a face
#
# The app's path: BlazeFace finds the face, `core.preprocess.crop_faces` cuts and resizes it exactly as in training,
# and the model labels it. The shipped model is shown beside the one trained here; it was trained on faces turned so
# that the eyes are level (`--level-eyes`), so its crop is turned by the eye keypoints as well.

# %%
from core.detector import FaceDetector
from core.model_folder import EMOTION_MODEL_DIR
from core.models import FacialExpressionModel
from core.preprocess import crop_faces

photo = cv2.cvtColor(cv2.imread(str(data_dir() / "media" / "happy.jpg")), cv2.COLOR_BGR2RGB)
face = FaceDetector().detect(photo)[0]
ours = FacialExpressionModel(folder)
shipped = FacialExpressionModel(EMOTION_MODEL_DIR)
crop = crop_faces(photo, [face.box], 48, 1)[0]
shipped_crop = crop_faces(photo, [face.box], 48, 1, [face.keypoints] if shipped.levels_eyes else None)[0]
fig, axes = plt.subplots(1, 2, figsize=(5, 2.6))
axes[0].imshow(photo)
x, y, w, h = face.box
axes[0].add_patch(plt.Rectangle((x, y), w, h, fill=False, color="lime", linewidth=2))
axes[1].imshow(crop[:, :, 0], cmap="gray", vmin=0, vmax=255)
axes[1].set_title(f"this notebook: {ours.predict_emotion(crop)}\nshipped: {shipped.predict_emotion(shipped_crop)}",
                  fontsize=8)
for axis in axes:
    axis.axis("off")
fig.tight_layout()
fig.savefig(WORK / "face.png", dpi=60)
plt.close(fig)
display(Image(filename=str(WORK / "face.png")))
print({label: round(float(p), 3) for label, p in zip(ours.labels, ours.predict_proba(crop[None])[0])})

# %% [markdown]
# ## 7. Confusion matrix and reliability diagram
#
# `train.evaluate` on the validation faces: rows are the true expression, columns the predicted one. The
# reliability diagram shows accuracy per confidence bin before and after the temperature.

# %%
from train.calibration import plot_reliability
from train.evaluate import evaluate_arrays, plot_confusion, report_text

result = evaluate_arrays(folder, val_x, val_y)
print(report_text(result))
plot_confusion(result, WORK / "confusion.png")
plot_reliability(result["calibration"], WORK / "reliability.png", f"seed network, {result['n']} PublicTest faces")
display(Image(filename=str(WORK / "confusion.png"), width=420), Image(filename=str(WORK / "reliability.png"), width=300))
