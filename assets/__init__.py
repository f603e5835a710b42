"""Shipped assets: the package ``galaxy_explorer.assets`` (``pyproject.toml`` maps this folder into the package).

Read them through ``galaxy_explorer.paths`` (``importlib.resources``), never by a path relative to the repository.
"""
