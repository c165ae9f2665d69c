"""A Powertools for AWS Lambda (Python) Parameters provider over the resolver.

Only importable with ``aws-lambda-powertools`` installed (``pip install profile-resolver[powertools]``).
The parameter name is a resolve query string, and the value is the one matching profile's ARN::

    provider = ProfileResolverProvider()
    arn = provider.get("tag:tenant=acme&tag:app=chat", max_age=5)

The extension already caches every region's profiles (60 s by default), so Powertools' own cache
adds its ``max_age`` to how old an answer may be: keep ``max_age`` small, or 0 for no second
cache. Powertools' default, without ``max_age``, is 300 s (``POWERTOOLS_PARAMETERS_MAX_AGE``).

The resolver's own errors (``NoMatch``, ``AmbiguousMatch``, ``InvalidQuery``, ...) come through
as they are, not wrapped in Powertools' ``GetParameterError``, so that a caller can tell "no
profile serves these tags" from "the resolver could not be asked".
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from .client import Client
from .errors import ProfileResolverError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters.types import TransformOptions

__all__ = ["ProfileResolverProvider"]


class ProfileResolverProvider(BaseProvider):
    """Resolves ``tag:k=v&...`` names to profile ARNs, cached by Powertools for ``max_age``
    seconds on top of the extension's own cache."""

    def __init__(self, client: Optional[Client] = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        self.client = client or Client()

    def get(self, name: str, max_age: Optional[int] = None, transform: TransformOptions = None,
            force_fetch: bool = False, **sdk_options: Any) -> Union[str, bytes, Dict[Any, Any], None]:
        """The ARN of the one profile that the query string ``name`` matches.

        Raises the resolver's own error (``NoMatch``, ``AmbiguousMatch``, ... or a
        ``ProfileResolverError`` when the extension cannot be reached) instead of a bare
        ``GetParameterError``; other failures, such as a failed ``transform``, are Powertools'.
        """
        try:
            return super().get(name, max_age, transform, force_fetch, **sdk_options)
        except GetParameterError as exc:
            own = _resolver_error(exc)
            if own is None:
                raise
        # Raised outside the handler, the resolver's error keeps its own cause and context.
        raise own

    def _get(self, name: str, **sdk_options: Any) -> str:
        # The name is the GET form of a query, passed on as it is: the server parses it.
        answer = self.client.resolve_query(name)
        return str(answer["profile"]["arn"])

    def _get_multiple(self, path: str, **sdk_options: Any) -> Dict[str, str]:
        raise NotImplementedError("resolve one query per get()")


def _resolver_error(exc: BaseException) -> Optional[ProfileResolverError]:
    """The resolver's error that Powertools wrapped in ``exc``, if any."""
    inner = exc.__cause__ or exc.__context__
    return inner if isinstance(inner, ProfileResolverError) else None
