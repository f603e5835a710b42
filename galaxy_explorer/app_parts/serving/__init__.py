"""How the app is served: once-per-process work (``server``), pages built in turns and ahead of visitors
(``build_turns``, ``spare_session``, ``page_openings``) and lean, offline pages (``page_scripts``, ``offline``).

Every change made to Panel's or Bokeh's own code, and every call into glibc, goes through ``patches``, whose tables
``tests/test_serving_patches.py`` checks against the installed versions.
"""
