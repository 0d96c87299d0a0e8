"""Knowledge distillation: a student learns from the hard labels and from teachers' soft targets.

    python -m train.train --task emotion --network sepvgg --teacher models/emotion [runs/teacher2 ...]

Teachers are model folders (`core.model_folder` layout). Several teachers form an ensemble: their softened probabilities
are averaged. The teachers see the same augmented batch as the student (they run inside the tf.data pipeline, after
augmentation), so the soft target always describes the image the student is shown.

The training target packs both: `y = [one-hot hard label (K) | teachers' probabilities at temperature T (K)]`, and
`DistillationLoss` is Hinton et al.'s mix

    (1 - alpha) * cross-entropy(hard label, student)  +  alpha * T^2 * KL(teachers_T || student_T)

where `student_T = softmax(log(student probabilities) / T)` (the networks end in a softmax; dividing log-probabilities
by T is the same as dividing the logits by T). Class weights come as per-sample weights, because the packed target
is no longer a one-hot vector.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import ops

EPSILON = 1e-7


def load_teachers(folders, num_classes: int, input_shape) -> list:
    """The Keras models of the teacher folders, checked to fit the student's task (labels and input)."""
    from core.model_folder import ModelFileError, load_keras_model

    teachers = []
    for folder in folders:
        model, metadata = load_keras_model(Path(folder))
        found = tuple(model.input_shape[1:])
        if found != tuple(input_shape) or len(metadata["labels"]) != num_classes:
            raise ModelFileError(
                f"teacher {folder}: input {found} with {len(metadata['labels'])} labels, "
                f"expected input {tuple(input_shape)} with {num_classes} labels"
            )
        model.trainable = False
        teachers.append(model)
    return teachers


def soft_target_fn(teachers, temperature: float):
    """A TensorFlow function of an augmented batch: the teachers' averaged probabilities at `temperature`."""
    import tensorflow as tf

    @tf.function
    def soft_targets(images):
        tempered = [
            tf.nn.softmax(tf.math.log(tf.clip_by_value(teacher(images, training=False), EPSILON, 1.0)) / temperature)
            for teacher in teachers
        ]
        return tf.add_n(tempered) / len(tempered)

    return soft_targets


@keras.saving.register_keras_serializable(package="facexp")
class DistillationLoss(keras.losses.Loss):
    """(1 - alpha) * CE(hard, student) + alpha * T^2 * KL(teacher_T || student_T), on targets packed [hard | soft]."""

    def __init__(self, num_classes: int = 7, alpha: float = 0.7, temperature: float = 3.0, label_smoothing: float = 0.0,
                 name: str = "distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.alpha, self.temperature = num_classes, alpha, temperature
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        k, t = self.num_classes, self.temperature
        hard, soft = y_true[:, :k], y_true[:, k:]
        cross_entropy = keras.losses.categorical_crossentropy(hard, y_pred, label_smoothing=self.label_smoothing)
        student_t = ops.log_softmax(ops.log(ops.clip(y_pred, EPSILON, 1.0)) / t, axis=-1)
        kl = ops.sum(soft * (ops.log(ops.clip(soft, EPSILON, 1.0)) - student_t), axis=-1)
        return (1.0 - self.alpha) * cross_entropy + self.alpha * t * t * kl

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "alpha": self.alpha,
                "temperature": self.temperature, "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="facexp")
def accuracy(y_true, y_pred):
    """Top-1 accuracy against the hard label, for packed [hard | soft] targets (named so the logs say val_accuracy)."""
    k = ops.shape(y_pred)[-1]
    return ops.cast(ops.argmax(y_true[:, :k], axis=-1) == ops.argmax(y_pred, axis=-1), "float32")
