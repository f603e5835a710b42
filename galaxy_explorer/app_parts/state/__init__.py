"""What the app holds: walks and their frames (``walk``), the one generation queue per process (``generation``), each
session's worker thread and messages (``worker``, ``session``), the view in the URL (``url_state``), the model and
survey loaded once per process (``resources``) and the aperture colours measured on every stamp (``colours``). No
Panel widgets in here.
"""
