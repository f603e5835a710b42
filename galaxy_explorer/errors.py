"""Exceptions users see. Each message names the file, key or value at fault and what was expected."""


class GalaxyExplorerError(Exception):
    """Base for errors caused by user input (files, arguments); the CLI prints them in one line, exit status 2."""


class SurveyError(GalaxyExplorerError, ValueError):
    """A survey file is unreadable or does not follow the GalaxiesML schema."""


class CheckpointError(GalaxyExplorerError, ValueError):
    """A checkpoint is missing, malformed, or would need unpickling to load."""


class OutputPathError(GalaxyExplorerError, ValueError):
    """An output location that cannot be written, or that holds a file the command would replace unasked."""

