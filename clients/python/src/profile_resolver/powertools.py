"""A Powertools for AWS Lambda (Python) Parameters provider over the resolver.

Only importable with ``aws-lambda-powertools`` installed (``pip install profile-resolver[powertools]``).
The parameter name is a resolve query string, and the value is the one matching profile's ARN::

    provider = ProfileResolverProvider()
    arn = provider.get("tag:tenant=acme&tag:app=chat", max_age=60)
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from aws_lambda_powertools.utilities.parameters.base import BaseProvider

from .client import Client


class ProfileResolverProvider(BaseProvider):
    """Resolves ``tag:k=v&...`` names to profile ARNs, cached by Powertools for ``max_age``."""

    def __init__(self, client: Optional[Client] = None) -> None:
        super().__init__()
        self.client = client or Client()

    def _get(self, name: str, **sdk_options: Any) -> str:
        # The name is the GET form of a query, passed on as it is: the server parses it.
        answer = self.client.resolve_query(name)
        return str(answer["profile"]["arn"])

    def _get_multiple(self, path: str, **sdk_options: Any) -> Dict[str, str]:
        raise NotImplementedError("resolve one query per get()")
