"""What the app decides: the current walk (``walk_controller``), the survey side (``survey_controller``, ``real``), the
generated population and filmstrip (``population``) and the colour panels' data (``colour_controller``). They read and
write ``param`` parameters; no Panel in here.
"""
