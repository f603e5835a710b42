"""A Bokeh server session spoken at the protocol level, for load tests: many sessions from one small process.

``bokeh.client`` rebuilds the whole page as Python models in the client (~0.2 s of CPU for this app's page) and
applies every change the server sends to them. With eight of them in the benchmark's process on the same 2 cores
as the server, the clients' own CPU time showed up as the server's latency. This client does what a browser does
on the wire and nothing more: it opens the websocket, asks for the document, reads it as JSON, sends property
changes and events, and decodes only the data changes of the sources it is asked to follow.

The wire format is Bokeh's own (``bokeh.protocol``): each message is a header, metadata and content, each a text
frame, then its binary buffers; ``Receiver`` reassembles them.
"""

from __future__ import annotations

import base64
from typing import Any, Callable, Iterator

import numpy as np
from bokeh.client.util import websocket_url_for_server_url
from bokeh.client.websocket import WebSocketClientConnectionWrapper
from bokeh.core.serialization import Serializer
from bokeh.protocol import Protocol
from bokeh.protocol.messages.patch_doc import patch_doc
from bokeh.protocol.receiver import Receiver
from bokeh.util.token import generate_jwt_token, generate_session_id, get_session_id
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


def decode(value: Any, buffers: dict[str, bytes]) -> Any:
    """A value of Bokeh's serialization as plain Python: maps become dicts, ndarrays numpy arrays."""
    if isinstance(value, list):
        return [decode(item, buffers) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("type")
    if kind == "map":
        return {decode(key, buffers): decode(item, buffers) for key, item in value.get("entries", [])}
    if kind == "ndarray":
        data = value["array"]["data"] if isinstance(value["array"], dict) else value["array"]
        if isinstance(data, dict) and "id" in data:
            raw = buffers[data["id"]]
        elif isinstance(data, str):
            raw = base64.b64decode(data)
        else:
            return np.asarray(data)
        return np.frombuffer(raw, dtype=value["dtype"]).reshape(value["shape"])
    return {key: decode(item, buffers) for key, item in value.items()}


def document_objects(node: Any) -> Iterator[dict]:
    """Every model of a document's JSON (``{"type": "object", "name": TYPE, "id": ..., "attributes": ...}``)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "id" in node:
            yield node
        for value in node.values():
            yield from document_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from document_objects(value)


class ProtocolSession:
    """One session of a served Bokeh app, without a document: ``await open()``, then ``patch``/``event``.

    ``on_data(model_id, data)`` is called for every change of a followed model's ``data`` (a dict of columns).
    """

    def __init__(self, app_url: str, on_data: Callable[[str, dict], None] | None = None, token: str | None = None):
        """``token``: the session token of a page the server has served (its session, as a browser would join
        it); None opens a session of its own, as ``bokeh.client`` does."""
        self.app_url = app_url
        self.on_data = on_data
        self.followed: set[str] = set()
        self.token = token
        self.session_id = get_session_id(token) if token else generate_session_id()
        self.models: dict[str, dict] = {}  # id -> the model's JSON as the document first held it
        self._protocol = Protocol()
        self._socket: WebSocketClientConnectionWrapper | None = None
        self._receiver = Receiver(self._protocol)
        self.closed = False

    async def open(self) -> dict:
        """Connect and fetch the document; returns its JSON (roots, with every model in full once)."""
        request = HTTPRequest(websocket_url_for_server_url(self.app_url))
        socket = await websocket_connect(request, subprotocols=["bokeh", self.token or generate_jwt_token(self.session_id)])
        self._socket = WebSocketClientConnectionWrapper(socket)
        ack = await self._read()
        if ack is None or ack.msgtype != "ACK":
            raise ConnectionError(f"{self.app_url}: expected ACK from the server, got {ack and ack.msgtype}")
        await self._protocol.create("PULL-DOC-REQ").send(self._socket)
        while True:
            reply = await self._read()
            if reply is None:
                raise ConnectionError(f"{self.app_url}: the server closed the session before sending the page")
            if reply.msgtype == "PULL-DOC-REPLY":
                break
            if reply.msgtype == "ERROR":
                raise ConnectionError(f"{self.app_url}: {reply.content}")
        doc = reply.content["doc"]
        self.models = {model["id"]: model for model in document_objects(doc)}
        return doc

    def find(self, predicate: Callable[[dict], bool]) -> dict | None:
        """The first model of the document (as JSON) for which ``predicate(model)`` holds."""
        return next((model for model in self.models.values() if predicate(model)), None)

    async def patch(self, model_id: str, attr: str, value: Any) -> None:
        """Set a property, as a browser does when a widget changes."""
        await self._send_events([{"kind": "ModelChanged", "model": {"id": model_id}, "attr": attr, "new": value}])

    async def event(self, event) -> None:
        """Send a Bokeh UI event (``bokeh.events``), such as ``DocumentReady()``."""
        await self._send_events([{"kind": "MessageSent", "msg_type": "bokeh_event",
                                  "msg_data": Serializer().encode(event)}])

    async def listen(self) -> None:
        """Read the server's messages until the connection closes, reporting the followed sources' data."""
        while True:
            message = await self._read()
            if message is None:
                self.closed = True
                return
            if message.msgtype == "PATCH-DOC" and self.on_data is not None:
                self._report(message)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(1000, "closed")

    # -- internals ----------------------------------------------------------------------------------------------
    async def _send_events(self, events: list[dict]) -> None:
        if self._socket is None or self.closed:
            return
        await patch_doc(patch_doc.create_header(), {}, {"events": events}).send(self._socket)

    async def _read(self):
        """The next whole message, or None once the connection has closed."""
        while True:
            fragment = await self._socket.read_message()
            if fragment is None:
                return None
            message = await self._receiver.consume(fragment)
            if message is not None:
                return message

    def _report(self, message) -> None:
        buffers = {buffer.id: buffer.to_bytes() for buffer in message.buffers}
        for change in message.content.get("events", []):
            model = (change.get("model") or {}).get("id")
            if model not in self.followed:
                continue
            if change.get("kind") == "ModelChanged" and change.get("attr") == "data":
                self.on_data(model, decode(change["new"], buffers))
            elif change.get("kind") == "ColumnDataChanged":
                self.on_data(model, decode(change["data"], buffers))


def attribute(model: dict, name: str, default: Any = None) -> Any:
    """A model's attribute as the document's JSON holds it, decoded (``None`` where it kept the default)."""
    return decode(model.get("attributes", {}).get(name, default), {})


__all__ = ["ProtocolSession", "attribute", "decode", "document_objects"]
