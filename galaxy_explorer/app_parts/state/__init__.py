"""What the app holds: walks and their frames (``walk``), the one generation queue per process (``generation``), each
session's worker thread and messages (``worker``, ``session``), the view in the URL (``url_state``) and the model and
survey loaded once per process (``resources``). No Panel widgets in here.
"""
