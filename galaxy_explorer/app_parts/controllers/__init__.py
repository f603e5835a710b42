"""What the app decides: the current walk (``walk_controller``), the survey side (``survey_controller``, ``real``) and the
generated population and filmstrip (``population``). They read and write ``param`` parameters; no Panel in here.
"""
