"""Client for profile-resolver: which Amazon Bedrock application inference profile ARN serves
these tags, and the way back: which model is behind this profile ARN.

    from profile_resolver import Client
    arn = Client().resolve({"tenant": "acme", "app": "chat"})["profile"]["arn"]

Answers are plain dicts, typed for checkers by the ``TypedDict`` classes of
:mod:`profile_resolver.answers` (``OneAnswer``, ``AllAnswer``, ``Profile``, ``BatchResult``, ...).
"""
from .answers import (AllAnswer, AnswerMeta, BatchResult, CacheState, ErrorBody, ErrorDetail, Health,
                      MatchMode, OneAnswer, Profile, Query, QueryAnswer, RegionHealth, RegionState, Source,
                      Tags, TagValue)
from .client import Client, token_from
from .errors import (AmbiguousMatch, Forbidden, HeadersTooLarge, InvalidQuery, MethodNotAllowed, NoMatch,
                     NotFound, PayloadTooLarge, ProfileResolverError, RequestTimeout, TooManyRequests,
                     TooManyResults, Unauthorized, UpstreamUnavailable, UriTooLong)

__all__ = ["Client", "token_from", "ProfileResolverError", "InvalidQuery", "Unauthorized", "Forbidden",
           "NoMatch", "NotFound", "MethodNotAllowed", "RequestTimeout", "AmbiguousMatch", "PayloadTooLarge",
           "TooManyResults", "UriTooLong", "HeadersTooLarge", "TooManyRequests", "UpstreamUnavailable",
           # The answers' types.
           "OneAnswer", "AllAnswer", "QueryAnswer", "AnswerMeta", "Profile", "BatchResult", "Query",
           "ErrorDetail", "ErrorBody", "Health", "RegionHealth", "Tags", "TagValue", "MatchMode", "Source",
           "CacheState", "RegionState"]
__version__ = "0.2.0"
