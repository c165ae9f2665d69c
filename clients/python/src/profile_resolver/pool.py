"""A small pool of kept-alive HTTP connections, so that threads sharing one client each send
their request on a connection of their own, at the same time."""
from __future__ import annotations

import http.client
import threading
from typing import Callable, List


class ConnectionPool:
    """Lends connections, one borrower at a time each, and keeps up to ``max_idle`` of the
    returned ones open for reuse.

    The lock guards the list of idle connections only, never a request: N threads borrowing at
    once get N connections (new ones when none is idle) and talk over them in parallel.
    """

    def __init__(self, connect: Callable[[], http.client.HTTPConnection], max_idle: int) -> None:
        self._connect = connect
        self._max_idle = max(0, max_idle)
        self._idle: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def take(self) -> http.client.HTTPConnection:
        """The most recently returned idle connection, or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def fresh(self) -> http.client.HTTPConnection:
        """A new connection, never a kept-alive one."""
        return self._connect()

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        """Returns a connection whose exchange ended cleanly; over ``max_idle``, it is closed."""
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Closes the idle connections. The pool stays usable: a connection lent out at the
        time comes back when its exchange ends, and later borrowers open new ones."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
