"""Where `coach score` runs the per-call scoring.

The local engine (one process, or a pool of `--jobs` processes) lives in
`coach.batch`; the engines here run the same `CallScorer` elsewhere and hand
each result back to the batch runner, which alone writes files. Each engine
module imports its optional dependency lazily, so `coach` works without it.
"""
