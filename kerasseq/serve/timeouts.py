"""Header and body timeouts for `kerasseq serve`: a slow or silent client cannot hold a connection open.

uvicorn closes idle keep-alive connections, but not one whose client sends its request a byte at
a time. `timed_protocol(header_timeout, body_timeout)` is uvicorn's httptools protocol with two
deadlines: a request's headers must arrive within `header_timeout` seconds of the connection
opening (or of the request's first byte, on a kept-alive connection), and its body within
`body_timeout` seconds of the headers. Past a deadline the connection is closed (the request is
counted as 499, client closed, in the metrics).
"""


def timed_protocol(header_timeout=10.0, body_timeout=30.0):
    """An asyncio protocol class for `uvicorn.run(..., http=...)`."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    for name, value in (("header_timeout", header_timeout), ("body_timeout", body_timeout)):
        if not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")

    class TimedHttpToolsProtocol(HttpToolsProtocol):
        deadline = None

        def _arm(self, seconds):
            self._disarm()
            self.deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self):
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def _expire(self):
            self.deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm(header_timeout)

        def on_message_begin(self):
            super().on_message_begin()
            self._arm(header_timeout)

        def on_headers_complete(self):
            super().on_headers_complete()
            self._arm(body_timeout)

        def on_message_complete(self):
            super().on_message_complete()
            self._disarm()

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

    return TimedHttpToolsProtocol
