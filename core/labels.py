"""The label lists, in the order the networks output them. Defined here only.

`core.model_folder.make_metadata` writes them into each model folder's `metadata.json` ("labels"); the exporter copies that
file into the web bundle, and the browser reads the labels from there.
"""

# FER2013's `emotion` column: 0=Angry, 1=Disgust, 2=Fear, 3=Happy, 4=Sad, 5=Surprise, 6=Neutral.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Face-mask classifier output order (folder names of the face-mask data set).
MASK_LABELS = ("with_mask", "without_mask")

LABELS_BY_TASK = {"emotion": EMOTIONS, "mask": MASK_LABELS}
