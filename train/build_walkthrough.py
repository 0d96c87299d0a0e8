"""Write train/walkthrough.ipynb from its source train/walkthrough.py, and execute it so the plots are in it.

    python -m train.build_walkthrough                  # execute and write train/walkthrough.ipynb (a few minutes)
    python -m train.build_walkthrough --out X.ipynb    # elsewhere (the test does this on a small subset)
    WALKTHROUGH_ROWS=400 WALKTHROUGH_EPOCHS=1 python -m train.build_walkthrough --out /tmp/w.ipynb

The source is a keras-io style script whose cells start with `# %%` (code) or `# %% [markdown]` (markdown, each
line a `# ` comment). Executing needs the test requirements (requirements-dev.txt: nbclient, nbformat, ipykernel),
not the app's. The notebook runs with the repository root as its working folder; it is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# ---------------------------------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "train" / "walkthrough.py"
NOTEBOOK = REPO / "train" / "walkthrough.ipynb"
CELL_TIMEOUT_S = 1800
KERNEL = "python3"

# ---------------------------------------------------------------------------------------------------------------------
# Source -> cells -> notebook
# ---------------------------------------------------------------------------------------------------------------------


def split_cells(text: str) -> list[tuple[str, str]]:
    """[(kind, source)] with kind "code" or "markdown", from `# %%` markers."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"{SOURCE.name}: text before the first '# %%' cell marker: {line!r}")
    result = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        source = "\n".join(lines).strip("\n")
        if source:
            result.append((kind, source))
    return result


def build_notebook(source: Path = SOURCE):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for index, (kind, text) in enumerate(split_cells(Path(source).read_text())):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        notebook.cells.append(make(text, id=f"cell-{index:02d}"))
    return notebook


def execute(notebook, cwd: Path = REPO):
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL, resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def drop_log_noise(notebook):
    """Remove stderr streams (TensorFlow's and LiteRT's start-up logs): they are machine-specific noise."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    return notebook


def write(notebook, path: Path) -> None:
    import nbformat

    from core.files import write_atomically

    write_atomically(Path(path), nbformat.writes(notebook) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=NOTEBOOK)
    parser.add_argument("--no-execute", action="store_true", help="write the cells without running them")
    args = parser.parse_args(argv)
    notebook = build_notebook()
    if not args.no_execute:
        drop_log_noise(execute(notebook))
    write(notebook, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
