"""train/walkthrough.ipynb: the committed notebook is its source (train/walkthrough.py) with its plots kept, and the
source executes top to bottom in a real Jupyter kernel (nbclient) on a small FER2013 subset, so it cannot rot."""

import json

import pytest

from tests.harness import REPO, in_ci

NOTEBOOK = REPO / "train" / "walkthrough.ipynb"
MAX_NOTEBOOK_BYTES = 1_500_000  # outputs kept small: low-dpi PNGs, no progress bars
SMALL = {"WALKTHROUGH_ROWS": "256", "WALKTHROUGH_EPOCHS": "2"}


@pytest.fixture(scope="module")
def nbclient():
    try:
        return pytest.importorskip("nbclient") if not in_ci() else __import__("nbclient")
    except ImportError:
        pytest.fail("CI=true: nbclient is not installed (requirements-dev.txt)")


def text_of(cell) -> str:
    """Printed text and displayed plain text (Keras prints the model summary through rich: display data)."""
    return "\n".join(output.get("text", "") + output.get("data", {}).get("text/plain", "") for output in cell.outputs)


def images_in(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def test_committed_notebook_is_its_source_with_plots():
    from train.build_walkthrough import split_cells

    assert NOTEBOOK.stat().st_size <= MAX_NOTEBOOK_BYTES
    notebook = json.loads(NOTEBOOK.read_text())
    cells = [(cell["cell_type"], "".join(cell["source"])) for cell in notebook["cells"]]
    assert cells == split_cells((REPO / "train" / "walkthrough.py").read_text()), \
        "train/walkthrough.ipynb is stale: run `python -m train.build_walkthrough`"
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(cell.get("execution_count") for cell in code), "the committed notebook was not executed top to bottom"
    assert not [o for cell in code for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    # class balance, samples, augmented batches, live curves, the labelled face, confusion + reliability
    assert sum(images_in(cell) for cell in code) >= 7


def test_notebook_executes_top_to_bottom_on_a_small_subset(nbclient, data_root, monkeypatch):
    from train.build_walkthrough import build_notebook, execute

    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    notebook = execute(build_notebook())  # raises CellExecutionError, with the cell and traceback, on any error
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    text = "\n".join(map(text_of, code))
    assert "Total params" in text  # the seed network's summary
    assert "temperature" in text and "accuracy" in text
    training_cell = next(cell for cell in code if "LivePlot()" in cell.source)
    assert images_in(training_cell) == 1, "the live plot is redrawn in place: one image after the last epoch"
    assert f"epoch {SMALL['WALKTHROUGH_EPOCHS']}/{SMALL['WALKTHROUGH_EPOCHS']}" in text_of(training_cell)
    assert images_in(code[-1]) == 2  # confusion matrix and reliability diagram
