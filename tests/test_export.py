"""export/: Keras model folders -> TensorFlow.js layers-model bundles, checked in a real JS runtime (Node + tfjs).

Real model folders (FACEXP_EMOTION_MODEL or models/emotion; models/mask), real FER2013 PublicTest faces, a real Node
running tfjs 4.9.0 from node_modules. The committed bundles under web_static/models/ must be the export of the
model folders (same bytes), else they are stale.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from export import ExportError
from export.tfjs_layers import build_bundle, model_topology, quantize
from tests.harness import REPO, WEB_MODELS, skip_or_fail


@pytest.fixture(scope="module")
def emotion_dir():
    from core.pipeline import emotion_model_dir

    folder = emotion_model_dir()
    if not (folder / "model.json").is_file():
        skip_or_fail(f"no expression model at {folder} (train one or set FACEXP_EMOTION_MODEL)")
    return folder


@pytest.fixture(scope="module")
def node_ready():
    from export.check import node_binary, require_node_modules

    try:
        node_binary()
        require_node_modules()
    except ExportError as error:
        skip_or_fail(str(error))


@pytest.fixture(scope="module")
def fer_ready(fer_csv):
    return fer_csv


@pytest.mark.parametrize("network, shape, classes", [("seed", (48, 48, 1), 7), ("vggbn", (48, 48, 1), 7),
                                                     ("mask_net", (64, 64, 3), 2)])
def test_every_network_converts_to_a_tfjs_topology(network, shape, classes):
    from train.networks import build_network

    model = build_network(network, shape, classes)
    manifest, shards = build_bundle(model, network)
    topology = manifest["modelTopology"]
    layers = topology["config"]["layers"]
    assert manifest["format"] == "layers-model"
    assert layers[0]["class_name"] == "InputLayer"
    assert layers[0]["config"]["batch_input_shape"] == [None, *shape]
    assert topology["config"]["input_layers"] == [[layers[0]["name"], 0, 0]]
    for layer in layers[1:]:
        assert "dtype" not in layer["config"] or layer["config"]["dtype"] == "float32"
        assert len(layer["inbound_nodes"]) == 1 and len(layer["inbound_nodes"][0]) == 1
    names = [spec["name"] for spec in manifest["weightsManifest"][0]["weights"]]
    assert all("/" in name and not name.startswith(network + "/") for name in names)  # "<layer>/<weight>", no prefix
    assert sum(map(len, shards.values())) == 4 * model.count_params()


def test_unsupported_layers_fail_loudly_naming_the_layer():
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.LayerNormalization(name="odd_norm")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Flatten()(x)))
    with pytest.raises(ExportError, match="odd_norm.*LayerNormalization"):
        build_bundle(model, "odd")
    with pytest.raises(ExportError, match="activation 'gelu'"):
        model_topology({"class_name": "Functional", "config": {
            "layers": [{"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "gelu"},
                        "inbound_nodes": []}], "input_layers": [], "output_layers": []}})


def test_uint8_and_float16_quantization_follow_the_tfjs_format():
    values = np.array([-1.0, -0.25, 0.0, 0.3, 2.0], np.float32)
    data, entry, decoded = quantize(values, "uint8")
    assert len(data) == values.size and entry["dtype"] == "uint8"
    assert decoded[2] == 0.0  # zero stays exactly zero (nudged range)
    assert np.abs(decoded - values).max() <= entry["scale"] / 2 + 1e-6
    q = np.frombuffer(data, np.uint8).astype(np.float32)
    assert np.allclose(q * entry["scale"] + entry["min"], decoded)  # how tfjs decodes it
    data, entry, decoded = quantize(values, "float16")
    assert len(data) == 2 * values.size and entry == {"dtype": "float16", "original_dtype": "float32"}
    with pytest.raises(ExportError, match="float16 range"):
        quantize(np.array([1e6], np.float32), "float16")
    with pytest.raises(ExportError, match="unknown quantization"):
        quantize(values, "int4")


def test_cli_export_runs_in_node_and_matches_keras(emotion_dir, node_ready, fer_ready, tmp_path):
    from core.model_folder import load_keras_model

    out = tmp_path / "models" / "emotion"
    result = subprocess.run([sys.executable, "-m", "export", "--model", str(emotion_dir), "--out", str(out),
                             "--samples", "48"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "export OK" in result.stdout
    metadata = json.loads((out / "metadata.json").read_text())
    source = json.loads((emotion_dir / "metadata.json").read_text())
    assert metadata["labels"] == source["labels"] and metadata["input"] == source["input"]
    check = metadata["tfjs"]["check"]
    assert check["wasm"]["faces"] == 48 and check["wasm"]["max_abs_diff"] <= 1e-4
    assert check["cpu"]["max_abs_diff"] <= 1e-4
    # the files are exactly what the writer produces for this model (idempotent: re-running changes nothing)
    model, _ = load_keras_model(emotion_dir)
    manifest, shards = build_bundle(model, "emotion")
    assert json.loads((out / "model.json").read_text()) == manifest
    for name, data in shards.items():
        assert (out / name).read_bytes() == data
    assert json.loads((tmp_path / "models" / "index.json").read_text())["classifiers"] == {"emotion": "emotion/"}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folders left


def test_uint8_export_agrees_with_keras_on_publictest_faces(emotion_dir, node_ready, fer_ready, tmp_path):
    from export.bundles import export_classifier

    metadata = export_classifier(emotion_dir, tmp_path / "emotion", "uint8", samples=400, log=lambda *_: None)
    check = metadata["tfjs"]["check"]
    assert check["weights"] == "uint8" and check["wasm"]["faces"] == 400
    assert check["wasm"]["top1_agreement"] >= 0.99
    weight_bytes = sum((tmp_path / "emotion" / name).stat().st_size for name in metadata["tfjs"]["weight_files"])
    manifest = json.loads((tmp_path / "emotion" / "model.json").read_text())
    specs = manifest["weightsManifest"][0]["weights"]
    assert all(("quantization" in spec) == (np.prod(spec["shape"]) >= 1024) for spec in specs)  # kernels only
    parameters = sum(int(np.prod(spec["shape"])) for spec in specs)
    assert weight_bytes < 0.3 * 4 * parameters


def test_a_bundle_that_disagrees_with_keras_fails_loudly(emotion_dir, node_ready, tmp_path):
    """Weights of a differently initialised network under the real model's topology: the JS check must refuse it."""
    import keras

    from core.model_folder import load_keras_model
    from export.check import check_bundle

    model, metadata = load_keras_model(emotion_dir)
    other = keras.models.model_from_json(model.to_json())  # same architecture, fresh random weights
    manifest, shards = build_bundle(other, "emotion")
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    for name, data in shards.items():
        (tmp_path / name).write_bytes(data)
    faces = np.random.default_rng(0).uniform(0, 255, (16, 48, 48, 1)).astype(np.float32)
    with pytest.raises(ExportError, match="differs from Keras"):
        check_bundle(tmp_path, model, faces, None, log=lambda *_: None)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "export", "--model", str(tmp_path / "nowhere"), "--out",
                             str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "export FAILED" in result.stderr and "nowhere: no such model folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_detector_export_mirrors_core_detector(tmp_path):
    from core.detector import DEFAULT_DETECTOR, detector_metadata
    from export.bundles import export_detector

    out = tmp_path / "blazeface"
    export_detector(DEFAULT_DETECTOR, out, log=lambda *_: None)
    exported = json.loads((out / "detector.json").read_text())
    assert {k: exported[k] for k in detector_metadata()} == detector_metadata()
    # the TensorFlow.js bundles of both passes and of the tiled search's face check, each checked against LiteRT
    # (tests/test_blazeface_tfjs.py: the boxes)
    for key in ("model", "close_range_model", "face_check_model"):
        manifest = json.loads((out / exported["tfjs"][key]).read_text())
        assert manifest["format"] == "layers-model"
    assert set(exported["tfjs"]["checks"]) == {"full", "short", "face_check"}
    assert exported["tfjs"]["checks"]["face_check"]["max_abs_diff"]["tfjs_wasm"] < 1e-3


def test_committed_bundles_are_current():
    """web_static/models/ holds the export of the model folders: same detector constants, same weights bytes."""
    from core.detector import detector_metadata
    from core.model_folder import EMOTION_MODEL_DIR, MASK_MODEL_DIR, load_keras_model
    from core.pipeline import pipeline_metadata

    index = json.loads((WEB_MODELS / "index.json").read_text())
    detector = json.loads((WEB_MODELS / index["detector"] / "detector.json").read_text())
    assert {k: detector[k] for k in detector_metadata(detector["model"])} == detector_metadata(detector["model"])
    assert index["pipeline"] == pipeline_metadata(), "web_static/models/index.json is stale: run `python -m export --all`"
    checked = 0
    for task, folder in (("emotion", EMOTION_MODEL_DIR), ("mask", MASK_MODEL_DIR)):
        bundle = WEB_MODELS / task
        if not (folder / "model.json").is_file() or task not in index["classifiers"]:
            continue
        metadata = json.loads((bundle / "metadata.json").read_text())
        model, source = load_keras_model(folder)
        weights = metadata["tfjs"]["weights"]
        _, shards = build_bundle(model, task, None if weights == "float32" else weights)
        stale = [name for name, data in shards.items() if not (bundle / name).is_file() or (bundle / name).read_bytes() != data]
        assert not stale and metadata["labels"] == source["labels"], (
            f"web_static/models/{task} is not the export of {folder}: run `python -m export --all`")
        checked += 1
    if not checked:
        skip_or_fail("no model folder under models/ to compare the committed bundles with")
