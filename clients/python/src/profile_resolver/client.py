"""The HTTP client of the cache-extension's API, on the standard library."""
from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .errors import ProfileResolverError, from_body

TagValue = Union[str, Sequence[str]]
Tags = Mapping[str, TagValue]
Answer = Dict[str, Any]

TOKEN_HEADER = "X-Profile-Resolver-Token"
#: The extension reads its token from the first of these that is set.
TOKEN_VARIABLES = ("PROFILE_RESOLVER_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN")
RETRIED = (429, 503)


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
    up to ``retries`` times with full jitter. The
    connection is kept alive between calls; a client may be shared between threads.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 timeout: float = 5.0, retries: int = 2, backoff: float = 0.05,
                 env: Optional[Mapping[str, str]] = None) -> None:
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
        self._lock = threading.Lock()
        self._conn: Optional[http.client.HTTPConnection] = None

    def resolve(self, tags: Tags, region: Optional[str] = None, match: str = "one") -> Answer:
        """The one profile serving ``tags``: ``{"profile": {...}, "source", "cache", "ageSeconds"}``.

        Raises ``NoMatch``, ``AmbiguousMatch`` (with ``candidates``), ``InvalidQuery``, ...
        """
        return self._call("POST", "/v1/resolve", _query(tags, region, match))

    def resolve_query(self, query_string: str) -> Answer:
        """The GET form: ``tag:k=v`` (repeat for OR, ``tag:k`` for any value), ``region``,
        ``match``, percent-encoded as in a URL."""
        return self._call("GET", "/v1/resolve?" + query_string, None)

    def resolve_all(self, tags: Tags, region: Optional[str] = None) -> Answer:
        """Every profile serving ``tags``: ``{"profiles": [...], ...}``, possibly empty."""
        return self._call("POST", "/v1/resolve", _query(tags, region, "all"))

    def resolve_batch(self, queries: Sequence[Mapping[str, Any]]) -> List[Answer]:
        """Up to 100 queries (``{"tags": ..., "region": ..., "match": ...}``) at once.

        Each result carries its own ``status``; a failed query is ``{"status": 4xx, "error":
        {...}}`` in place, not an exception. A batch whose whole answer would be over the
        resolver's answer limit raises ``TooManyResults``.
        """
        return list(self._call("POST", "/v1/resolve/batch", {"queries": list(queries)})["results"])

    def profile(self, arn_or_id: str, region: Optional[str] = None) -> Answer:
        """The reverse lookup: the record of one profile, by ARN (or id, in ``region`` or the
        home region): ``{"profile": {...models, tags...}, "source", "cache", "ageSeconds"}``."""
        path = "/v1/profiles/" + urllib.parse.quote(arn_or_id, safe="")
        if region is not None:
            path += "?" + urllib.parse.urlencode({"region": region})
        return self._call("GET", path, None)

    def close(self) -> None:
        """Closes the kept-alive connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _call(self, method: str, path: str, body: Optional[Mapping[str, Any]]) -> Answer:
        payload = None if body is None else json.dumps(body).encode()
        attempt = 0
        while True:
            status, answer = self._send(method, self._base + path, payload)
            if status == 200:
                return answer
            if status in RETRIED and attempt < self.retries:
                time.sleep(random.uniform(0, self.backoff * (2 ** attempt)))
                attempt += 1
                continue
            raise from_body(status, answer)

    def _send(self, method: str, path: str, payload: Optional[bytes]) -> "tuple[int, Answer]":
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers[TOKEN_HEADER] = self.token
        with self._lock:
            # A kept-alive connection the server closed fails once: retry it on a new one.
            for fresh in (False, True):
                conn = self._connection(fresh)
                try:
                    conn.request(method, path, body=payload, headers=headers)
                    resp = conn.getresponse()
                    raw = resp.read()
                    status = resp.status
                    if resp.getheader("connection", "").lower() == "close":
                        self._drop()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    self._drop()
                    if fresh:
                        raise ProfileResolverError(f"the extension closed the connection: {exc}") from exc
                except (OSError, http.client.HTTPException) as exc:
                    self._drop()
                    raise ProfileResolverError(f"the extension could not be reached: {exc}") from exc
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise ProfileResolverError(f"the extension answered {status} with a body that is not JSON",
                                       status) from exc
        return status, answer if isinstance(answer, dict) else {}

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        if fresh:
            self._drop()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _query(tags: Tags, region: Optional[str], match: str) -> Dict[str, Any]:
    query: Dict[str, Any] = {"tags": {k: (v if isinstance(v, str) else list(v)) for k, v in tags.items()},
                             "match": match}
    if region is not None:
        query["region"] = region
    return query
