"""The one entry point.

    python app.py [--host 127.0.0.1] [--port 7860] [--share]     Gradio app: webcam, image and video tabs
    python app.py predict INPUT [INPUT ...] [--json] [--out DIR]  label the faces of images / videos from the shell
    python app.py web [--host 127.0.0.1] [--port 8000]            in-browser (TensorFlow.js) page served by Flask
    python app.py batch INPUT [INPUT ...] --out DIR [--workers N] [--address auto|HOST:PORT]
                                                                   many videos / photos on Ray Data: tables, summaries
"""

import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else "gradio"
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)  # the four commands; the Gradio app's own options follow
    if command == "predict":
        from demo.predict_cli import main as run
        return run(argv[1:])
    if command == "batch":
        from batch.cli import main as run
        return run(argv[1:])
    if command == "web":
        from demo.web_server import main as run
        return run(argv[1:])
    if command == "gradio":
        from demo.gradio_app import main as run
        return run(argv[1:] if argv and argv[0] == "gradio" else argv)
    print(f"unknown command {command!r}; see: python app.py --help\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
