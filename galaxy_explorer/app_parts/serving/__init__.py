"""How the app is served: once-per-process work (``server``), pages built in turns and ahead of visitors
(``build_turns``, ``spare_session``, ``page_openings``) and lean, offline pages (``page_scripts``, ``offline``).
"""
