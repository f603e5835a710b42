"""The page's URL, both ways: the view a shared link asks for, and the link to the view on screen, written back as it
changes (``app_parts.state.url_state`` reads and writes the query itself). No Panel in here: the served page's
``location`` (anything with ``search`` and ``update_query``) is given.

A link sets up the session once: the app's own parameters when it is built (``asked_for``), the further conditions
and walk mode with the first model to load (``take``, then ``conditions``); a model loaded later starts from its
own defaults. What of the link cannot be used is told to the person, once the page can show a warning.
"""

from __future__ import annotations

from typing import Callable, Mapping

import param

from galaxy_explorer.app_parts.state.session import SessionMessages, UiThread
from galaxy_explorer.app_parts.state.url_state import UrlState, checked_conditions, parse_query, query_of
from galaxy_explorer.app_parts.state.walk import REDSHIFT_AXIS

WARNING_MS = 15000  # how long a warning about the link stays on screen


def asked_for(query: Mapping[str, str] | None, location, definitions: param.Parameters) -> UrlState:
    """What a link asks for: ``query`` (notebooks and tests) or, None, the served page's own ``location`` (None: no
    link), checked against the app's parameter ``definitions`` as far as it can be before a model is loaded."""
    if query is None and location is not None:
        query = query_of(location.search or "")
    return parse_query(query or {}, definitions)


class UrlLink:
    """One session's link: ``asked`` (from ``asked_for``), the page's ``location`` to write to (None: headless), and
    ``shown``: whether a warning can reach the person yet (served, a toast sent before the page has rendered is
    lost; ``page_shown`` says when it has)."""

    def __init__(self, asked: UrlState, location, messages: SessionMessages, ui: UiThread, shown: bool,
                 write_ms: int = 1000):
        self._asked: UrlState | None = asked
        self._location, self._messages, self._ui = location, messages, ui
        self._shown, self._write_ms, self._closed = shown, int(write_ms), False
        self.problems: list[str] = []  # what of the link could not be used, as told to the person
        self._told = 0
        self.report(asked.problems)

    def take(self) -> UrlState | None:
        """What the link asks for, once: the first model to load is set up with it; None after."""
        asked, self._asked = self._asked, None
        return asked

    def conditions(self, asked: UrlState | None, ranges: Mapping[str, tuple[float, float]], free_allowed: bool,
                   defaults: Mapping[str, float | None]) -> tuple[dict[str, float | None], str]:
        """(the further conditions, the walk's axis) to start a model with: what ``asked`` asks for where the
        checkpoint (its labels' training ``ranges``) can do it, the rest ``defaults`` along the redshift."""
        if asked is None:
            return dict(defaults), REDSHIFT_AXIS
        conditions, axis, problems = checked_conditions(asked, ranges, free_allowed, defaults)
        self.report(problems)
        return conditions, axis

    def report(self, problems: list[str]) -> None:
        """Keep ``problems``, and tell the person those not told yet, in one warning, once the page can show it."""
        self.problems += problems
        if self._shown and len(self.problems) > self._told:
            told, self._told = self._told, len(self.problems)
            self._messages.notify("warning", "Link: " + "; ".join(self.problems[told:]) + ".", duration=WARNING_MS)

    def page_shown(self) -> None:
        """Served: the page has rendered; what could not be used is told now."""
        self._shown = True
        self.report([])

    def write(self, query: Callable[[], dict[str, str]]) -> None:
        """Served: the page's URL becomes ``query()``, the view on screen (merged: at most once per ``write_ms``)."""
        if self._location is not None and not self._closed:
            self._ui.call_later("url", self._write_ms, lambda: self._location.update_query(**query()))

    def close(self) -> None:
        """The session has gone: the URL is written no more."""
        self._closed = True
