"""Parts of the Galaxy Explorer app (``galaxy_explorer/app.py``), each testable without a browser, in four roles.

Data flows one way: widgets -> the app's parameters -> controllers -> their output parameters -> components.

- ``state``: walks and frames, the generation queue, session workers and messages, the URL, shared resources.
- ``controllers``: the current walk, the survey side and the generated population (no Panel).
- ``components``: Panel/Bokeh components and panels, each redrawing from the controllers' outputs.
- ``serving``: what ``panel serve`` needs once per process, and the lean, offline, turn-taking pages.
"""
