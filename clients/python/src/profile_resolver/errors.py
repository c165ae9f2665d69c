"""One exception class per error code of the profile-resolver API."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Type


class ProfileResolverError(Exception):
    """Any error the resolver answered, or a transport failure (``code`` is then ``None``).

    ``status`` is the HTTP status, and ``body`` the answer's ``error`` object (its keys are
    described by :class:`profile_resolver.answers.ErrorDetail`), empty for a transport failure.
    """

    code: Optional[str] = None

    def __init__(self, message: str, status: Optional[int] = None,
                 body: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body: Dict[str, Any] = body or {}


class InvalidQuery(ProfileResolverError):
    """400: the query broke a rule; ``field`` names the part at fault."""

    code = "InvalidQuery"

    @property
    def field(self) -> Optional[str]:
        """The request field at fault, e.g. ``tags``, ``region`` or ``match``."""
        return _text(self.body.get("field"))


class Unauthorized(ProfileResolverError):
    """401: the token (or the tenant claim) is missing."""

    code = "Unauthorized"


class Forbidden(ProfileResolverError):
    """403: the token is wrong, or another tenant was named."""

    code = "Forbidden"


class NoMatch(ProfileResolverError):
    """404: nothing matched."""

    code = "NoMatch"


class NotFound(ProfileResolverError):
    """404: no such route."""

    code = "NotFound"


class MethodNotAllowed(ProfileResolverError):
    """405: the route exists, not with this method."""

    code = "MethodNotAllowed"


class RequestTimeout(ProfileResolverError):
    """408: the request body did not arrive in time."""

    code = "RequestTimeout"


class AmbiguousMatch(ProfileResolverError):
    """409: ``match=one`` and several profiles matched."""

    code = "AmbiguousMatch"

    @property
    def candidates(self) -> List[str]:
        """The first matching ARNs, sorted."""
        candidates = self.body.get("candidates")
        return [str(c) for c in candidates] if isinstance(candidates, list) else []

    @property
    def count(self) -> int:
        """How many profiles matched."""
        return int(self.body.get("count") or len(self.candidates))


class PayloadTooLarge(ProfileResolverError):
    """413: the body is over 64 KiB."""

    code = "PayloadTooLarge"


class TooManyResults(ProfileResolverError):
    """413: the answer (a ``match=all`` or a whole batch) would be over the resolver's answer
    limit; nothing partial is sent. Narrow the query with more tags, or split the batch."""

    code = "TooManyResults"

    @property
    def count(self) -> int:
        """How many profiles the refused answer held."""
        return int(self.body.get("count") or 0)


class UriTooLong(ProfileResolverError):
    """414: the request target is too long."""

    code = "UriTooLong"


class HeadersTooLarge(ProfileResolverError):
    """431: too many or too large headers."""

    code = "HeadersTooLarge"


class TooManyRequests(ProfileResolverError):
    """429: a connection or refresh limit; retried by the client."""

    code = "TooManyRequests"


class UpstreamUnavailable(ProfileResolverError):
    """503: no usable snapshot and no route; retried by the client."""

    code = "UpstreamUnavailable"

    @property
    def operation(self) -> Optional[str]:
        """The failing upstream operation(s), e.g. ``GetResources``."""
        return _text(self.body.get("operation"))


ERRORS: Dict[str, Type[ProfileResolverError]] = {
    cls.code: cls
    for cls in (InvalidQuery, Unauthorized, Forbidden, NoMatch, NotFound, MethodNotAllowed,
                RequestTimeout, AmbiguousMatch, PayloadTooLarge, TooManyResults, UriTooLong,
                HeadersTooLarge, TooManyRequests, UpstreamUnavailable)
    if cls.code is not None
}


def from_body(status: int, body: Mapping[str, Any]) -> ProfileResolverError:
    """The exception for an error body ``{"error": {...}}`` answered with ``status``."""
    error = body.get("error")
    detail: Dict[str, Any] = dict(error) if isinstance(error, dict) else {}
    code = _text(detail.get("code"))
    message = _text(detail.get("message")) or f"the resolver answered {status}"
    cls = ERRORS.get(code or "", ProfileResolverError)
    return cls(message, status, detail)


def _text(value: object) -> Optional[str]:
    """``value`` if it is a string, else ``None``."""
    return value if isinstance(value, str) else None
