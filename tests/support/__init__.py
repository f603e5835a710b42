"""Helpers for the test suite and the benchmarks; not part of the package (nothing here ships in the wheel).

- ``survey_files``: small GalaxiesML-schema HDF5 files, including each malformed case the survey reader handles.
- ``app_serving``: serve the app with ``panel serve`` in a subprocess and drive it from a headless Chromium.

Import them as ``tests.support.…``: pytest puts the repository root on ``sys.path`` (``pythonpath`` in
pyproject.toml); the benchmark scripts add it themselves.
"""
