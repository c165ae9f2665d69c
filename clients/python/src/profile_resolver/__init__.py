"""Client for profile-resolver: which Amazon Bedrock application inference profile ARN serves
these tags, and the way back: which model is behind this profile ARN.

    from profile_resolver import Client
    arn = Client().resolve({"tenant": "acme", "app": "chat"})["profile"]["arn"]
"""
from .client import Client, token_from
from .errors import (AmbiguousMatch, Forbidden, HeadersTooLarge, InvalidQuery, MethodNotAllowed, NoMatch,
                     NotFound, PayloadTooLarge, ProfileResolverError, RequestTimeout, TooManyRequests,
                     TooManyResults, Unauthorized, UpstreamUnavailable, UriTooLong)

__all__ = ["Client", "token_from", "ProfileResolverError", "InvalidQuery", "Unauthorized", "Forbidden",
           "NoMatch", "NotFound", "MethodNotAllowed", "RequestTimeout", "AmbiguousMatch", "PayloadTooLarge",
           "TooManyResults", "UriTooLong", "HeadersTooLarge", "TooManyRequests", "UpstreamUnavailable"]
__version__ = "0.1.0"
