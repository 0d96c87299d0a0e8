"""The tracked files themselves: no absolute path of one machine (a record or an output that names a folder of the
machine it was made on does not re-run anywhere else), and no module in the app's Python folders longer than a
reader can hold (MAX_MODULE_LINES)."""

import re
import subprocess

from tests.harness import REPO

# Home and work folders of the machines this project was made on, and pytest's temporary folders.
MACHINE_PATH = re.compile(r"(?<![\w.])/(work|home|root|Users|check)/|/tmp/pytest")
# Files that name such a folder on purpose, and why.
ALLOWED = {
    "tests/test_repository.py": "the pattern itself",
    "tests/test_hostile_app.py": "the server paths an error message must not leak",
}
BINARY_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".ico", ".h5", ".keras", ".tflite", ".bin", ".gz", ".zip",
                   ".woff", ".woff2", ".wasm", ".mp4", ".webm", ".pdf")
MAX_MODULE_LINES = 450
SHORT_MODULE_FOLDERS = ("core", "demo", "train")


def tracked_files() -> list[str]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_names_an_absolute_path_of_one_machine():
    found = []
    for name in tracked_files():
        if name in ALLOWED or name.lower().endswith(BINARY_SUFFIXES) or not (REPO / name).is_file():
            continue
        try:
            text = (REPO / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not a text file
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{name}:{number}: {line.strip()[:160]}")
    assert not found, "absolute paths of one machine (write them relative to the repository):\n" + "\n".join(found)


def test_the_pattern_finds_what_it_is_for():
    assert all(MACHINE_PATH.search(text) for text in (
        '"data": "/work/main/data/x.csv"', "cd /home/me/project", "/root/.cache", "/tmp/pytest-of-root/pytest-3/x",
        "see /check/repo/export/x.py"))
    assert not any(MACHINE_PATH.search(text) for text in (
        "../runs/teacher-vggbn/models/emotion", "models/emotion/model.json", "https://github.com/a/b/work/x",
        "web_static/models/mask"))


def test_no_module_of_the_app_is_longer_than_max_module_lines():
    long = [f"{name}: {n} lines" for name in tracked_files()
            if name.endswith(".py") and name.split("/")[0] in SHORT_MODULE_FOLDERS
            and (n := len((REPO / name).read_text().splitlines())) > MAX_MODULE_LINES]
    assert not long, f"over {MAX_MODULE_LINES} lines: {long}"
