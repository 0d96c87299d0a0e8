"""`python app.py batch`: many videos and photos labelled on Ray Data, on this machine or a cluster.

- batch/cli.py: the command: plan, run, resume, outputs, failures, progress bar, JSON lines;
- batch/plan.py: the input files, their output names, their segments (frame ranges), what is already done;
- batch/engine.py: Ray started here or joined, and the Ray Data pipeline over the segments (an actor pool);
- batch/labeller.py: the worker, a callable class that loads the models once and labels one segment per call with
  the app's pipeline (core.pipeline, core.tracking, core.video);
- batch/faces.py: the table of faces (one row per face per frame) and how it travels back from a worker;
- batch/stitch.py: a video's segments joined, one track id per person across the borders;
- batch/summary.py: the per-file summary CSV and expression-over-time plot.
"""
