"""Training, calibration and evaluation of the two classifiers (`python -m train.train --help`)."""

import sys


def log(message: str) -> None:
    """A progress line on stderr (stdout stays free for results such as `--json`)."""
    print(message, file=sys.stderr, flush=True)
