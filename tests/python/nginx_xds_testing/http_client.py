"""The one HTTP client of the integration tests.

request() sends one request (no proxy, a fresh connection) and returns
Response(status, headers, body): headers is the http.client.HTTPMessage
(case-insensitive .get() and [], .items() in wire order), body the payload
as str. The body is decoded as UTF-8 with surrogateescape, so no byte is
lost: Response.raw gives the exact bytes back.
"""

import collections
import http.client

_Response = collections.namedtuple("Response", "status headers body")


class Response(_Response):
    """(status, headers, body str) of one HTTP answer; .reason is the status
    line's reason phrase (not part of the tuple)."""

    reason = ""

    def __repr__(self):
        return "Response(%d %s, %r, %r)" % (self.status, self.reason,
                                            list(self.headers.items()), self.body)

    @property
    def raw(self):
        """The body's exact bytes."""
        return self.body.encode("utf-8", "surrogateescape")


def request(port, method="GET", path="/", body=None, headers=None, host="127.0.0.1",
            timeout=10.0):
    """One `method path` to host:port; returns Response(status, headers, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        answer = Response(response.status, response.msg,
                          data.decode("utf-8", "surrogateescape"))
        answer.reason = response.reason
        return answer
    finally:
        conn.close()
