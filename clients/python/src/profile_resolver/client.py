"""The HTTP client of the cache-extension's API, on the standard library."""
from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.parse
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union, cast, overload

from .answers import AllAnswer, BatchResult, Health, OneAnswer, Query, QueryAnswer, Tags, TagValue
from .errors import ProfileResolverError, from_body
from .pool import ConnectionPool

__all__ = ["Client", "token_from", "TOKEN_HEADER", "TOKEN_VARIABLES", "Tags", "TagValue", "Answer"]

#: Any decoded JSON object; the typed shapes are in :mod:`profile_resolver.answers`.
Answer = Dict[str, Any]

TOKEN_HEADER = "X-Profile-Resolver-Token"
#: The extension reads its token from the first of these that is set.
TOKEN_VARIABLES = ("PROFILE_RESOLVER_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN")
RETRIED = (429, 503)
#: Errors of a kept-alive connection that the server closed in the meantime.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def token_from(env: Mapping[str, str]) -> Optional[str]:
    """The token the extension expects, read in the extension's own order."""
    for name in TOKEN_VARIABLES:
        value = env.get(name)
        if value:
            return value
    return None


class Client:
    """A client of the extension on ``127.0.0.1``.

    ``Client()`` reads ``PROFILE_RESOLVER_PORT`` (default 9797) and the token from the
    environment, as a Lambda function with the layer would. Each call times out after
    ``timeout`` seconds, by default more than the extension's own wait for a cold region's first
    load (its upstream timeout, 2 s by default), so that a cold region whose upstream is down
    answers with its ``UpstreamUnavailable`` instead of timing out here; 429 and 503 are retried
    up to ``retries`` times with full jitter.

    A client may be shared between threads, and threads are not serialised: each request runs on
    a connection of its own, borrowed from a pool that keeps up to ``max_idle_connections``
    connections alive between calls.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 timeout: float = 5.0, retries: int = 2, backoff: float = 0.05,
                 max_idle_connections: int = 16, env: Optional[Mapping[str, str]] = None) -> None:
        env = os.environ if env is None else env
        if url is None:
            url = f"http://127.0.0.1:{env.get('PROFILE_RESOLVER_PORT') or '9797'}"
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"url must be http://HOST:PORT, not {url!r}")
        self._host = parsed.hostname
        self._port = parsed.port or 80
        self._base = parsed.path.rstrip("/")
        self.token = token if token is not None else token_from(env)
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._pool = ConnectionPool(self._connect, max_idle_connections)

    @overload
    def resolve(self, tags: Tags, region: Optional[str] = None, match: Literal["one"] = "one") -> OneAnswer: ...

    @overload
    def resolve(self, tags: Tags, region: Optional[str] = None,
                match: str = "one") -> Union[OneAnswer, AllAnswer]: ...

    def resolve(self, tags: Tags, region: Optional[str] = None,
                match: str = "one") -> Union[OneAnswer, AllAnswer]:
        """The one profile serving ``tags``: ``{"profile": {...}, "source", "cache", "ageSeconds"}``.

        Raises ``NoMatch``, ``AmbiguousMatch`` (with ``candidates``), ``InvalidQuery``, ...
        (``resolve_all`` is the typed form of ``match="all"``.)
        """
        return cast(Union[OneAnswer, AllAnswer], self._call("POST", "/v1/resolve", _query(tags, region, match)))

    def resolve_query(self, query_string: str) -> QueryAnswer:
        """The GET form: ``tag:k=v`` (repeat for OR, ``tag:k`` for any value), ``region``,
        ``match``, percent-encoded as in a URL. The answer holds ``profile`` for ``match=one``
        (the default), ``profiles`` for ``match=all``."""
        return cast(QueryAnswer, self._call("GET", "/v1/resolve?" + query_string, None))

    def resolve_all(self, tags: Tags, region: Optional[str] = None) -> AllAnswer:
        """Every profile serving ``tags``: ``{"profiles": [...], ...}``, possibly empty."""
        return cast(AllAnswer, self._call("POST", "/v1/resolve", _query(tags, region, "all")))

    def resolve_batch(self, queries: Sequence[Union[Query, Mapping[str, Any]]]) -> List[BatchResult]:
        """Up to 100 queries (``{"tags": ..., "region": ..., "match": ...}``) at once.

        Each result carries its own ``status``; a failed query is ``{"status": 4xx, "error":
        {...}}`` in place, not an exception. A batch whose whole answer would be over the
        resolver's answer limit raises ``TooManyResults``.
        """
        answer = self._call("POST", "/v1/resolve/batch", {"queries": list(queries)})
        return cast(List[BatchResult], list(answer["results"]))

    def profile(self, arn_or_id: str, region: Optional[str] = None) -> OneAnswer:
        """The reverse lookup: the record of one profile, by ARN (or id, in ``region`` or the
        home region): ``{"profile": {...models, tags...}, "source", "cache", "ageSeconds"}``."""
        path = "/v1/profiles/" + urllib.parse.quote(arn_or_id, safe="")
        if region is not None:
            path += "?" + urllib.parse.urlencode({"region": region})
        return cast(OneAnswer, self._call("GET", path, None))

    def health(self) -> Health:
        """The extension's readiness: ``{"status": "ok", "regions": {region: {"ready", "state",
        "profiles", "builds", "ageSeconds", "lastError"}}}``."""
        return cast(Health, self._call("GET", "/health", None))

    def close(self) -> None:
        """Closes the kept-alive connections. The client stays usable: a later call opens a
        new one."""
        self._pool.close()

    def _call(self, method: str, path: str, body: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        payload = None if body is None else json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            status, answer = self._send(method, self._base + path, payload)
            if status == 200:
                return answer
            if status not in RETRIED or attempt == self.retries:
                break
            time.sleep(random.uniform(0, self.backoff * (2 ** attempt)))
        raise from_body(status, answer)

    def _send(self, method: str, path: str, payload: Optional[bytes]) -> Tuple[int, Dict[str, Any]]:
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers[TOKEN_HEADER] = self.token
        status, raw = self._send_on_pool(method, path, payload, headers)
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise ProfileResolverError(f"the extension answered {status} with a body that is not JSON",
                                       status) from exc
        return status, answer if isinstance(answer, dict) else {}

    def _send_on_pool(self, method: str, path: str, payload: Optional[bytes],
                      headers: Mapping[str, str]) -> Tuple[int, bytes]:
        try:
            try:
                return self._exchange_on(self._pool.take(), method, path, payload, headers)
            except _STALE:
                # A kept-alive connection the server closed in the meantime: once more on a new one.
                return self._exchange_on(self._pool.fresh(), method, path, payload, headers)
        except _STALE as exc:
            raise ProfileResolverError(f"the extension closed the connection: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ProfileResolverError(f"the extension could not be reached: {exc}") from exc

    def _exchange_on(self, conn: http.client.HTTPConnection, method: str, path: str,
                     payload: Optional[bytes], headers: Mapping[str, str]) -> Tuple[int, bytes]:
        """Runs one exchange on a borrowed connection, then gives it back to the pool, or closes
        it when it failed or the server ends it."""
        try:
            status, raw, keep = self._exchange(conn, method, path, payload, headers)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._pool.give_back(conn)
        else:
            conn.close()
        return status, raw

    def _exchange(self, conn: http.client.HTTPConnection, method: str, path: str,
                  payload: Optional[bytes], headers: Mapping[str, str]) -> Tuple[int, bytes, bool]:
        """One request and its whole answer on ``conn``: the status, the body, and whether the
        connection may be kept alive."""
        conn.request(method, path, body=payload, headers=dict(headers))
        resp = conn.getresponse()
        raw = resp.read()
        # An HTTP/1.0 answer, or one with "Connection: close", ends the connection.
        return resp.status, raw, not resp.will_close

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _query(tags: Tags, region: Optional[str], match: str) -> Dict[str, Any]:
    query: Dict[str, Any] = {"tags": {k: (v if isinstance(v, str) else list(v)) for k, v in tags.items()},
                             "match": match}
    if region is not None:
        query["region"] = region
    return query
