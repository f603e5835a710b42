"""Parts of the Galaxy Explorer app (``galaxy_explorer/app.py``), each testable without a browser.

- ``worker``: one background thread per session with prioritised, latest-wins, pre-emptible tasks.
- ``walk``: the per-seed frame cache on a redshift grid, and the order in which the grid is baked.
- ``resources``: the model and the survey, loaded once per process and shared by sessions.
- ``real``: real survey galaxies near a redshift, and their morphology in a redshift window.
- ``views``: the Bokeh figures, updated in place through ColumnDataSources (never rebuilt).
"""
