"""Parts of the Galaxy Explorer app (``galaxy_explorer/app.py``), each testable without a browser.

Data flows one way: widgets -> the app's parameters -> controllers -> their output parameters -> views.

- ``worker``: one background thread per session with prioritised, latest-wins, pre-emptible tasks.
- ``session``: the session's messages (problems, toasts) and the hand-off from the worker to the UI thread.
- ``resources``: the model and the survey, loaded once per process and shared by sessions; the app's arguments.
- ``walk``: the per-seed frame cache on a redshift grid, and the order in which the grid is baked.
- ``walk_controller``: the current walk: loading the model, baking, the nearest and the exact frame (no Panel).
- ``real``: real survey galaxies near a redshift, and their morphology in a redshift window.
- ``survey_controller``: the survey side: loading the survey, following the slider (no Panel).
- ``views``: the Bokeh figures, updated in place through ColumnDataSources (never rebuilt).
- ``cards``: thin Viewer components that lay the views out and redraw them from the controllers' outputs.
- ``export_panel``: the export controls; exports the walk on screen on the session's worker.
"""
