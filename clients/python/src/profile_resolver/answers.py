"""The shapes of the resolver's JSON answers, as ``TypedDict`` types.

At run time every answer is a plain ``dict`` parsed from JSON; these types only tell a type
checker (and a reader) which keys it holds. Keys that the resolver may leave out are in a
``total=False`` part of the type, so that each works on Python 3.10, which has no
``NotRequired``.
"""
from __future__ import annotations

from typing import Dict, List, Literal, Mapping, Sequence, TypedDict, Union

#: One tag's wanted value, or any of several values; an empty sequence matches any value.
TagValue = Union[str, Sequence[str]]
#: Tag filters: every key must match (AND), any listed value of a key matches (OR).
Tags = Mapping[str, TagValue]
#: ``one`` wants exactly one profile; ``all`` lists every match.
MatchMode = Literal["one", "all"]
#: Where an answer came from: tag discovery or the Parameter Store routes.
Source = Literal["tagging-api", "parameter-store"]
#: How fresh the answering snapshot was: ``miss`` when the request waited for a load.
CacheState = Literal["hit", "stale", "miss"]
#: A region's readiness on ``/health``.
RegionState = Literal["fresh", "stale", "loading", "unavailable"]


class _QueryRequired(TypedDict):
    tags: Tags


class Query(_QueryRequired, total=False):
    """One query of a batch: ``{"tags": {...}, "region": "...", "match": "one" | "all"}``."""

    region: str
    match: MatchMode


class _ProfileRequired(TypedDict):
    arn: str
    region: str
    accountId: str
    tags: Dict[str, str]


class Profile(_ProfileRequired, total=False):
    """One application inference profile.

    A profile found by tags has every key; ``models``, ``modelIds`` and ``status`` are absent
    when Bedrock could not be read. A profile that came from a Parameter Store route has only
    ``arn``, ``region``, ``accountId`` and ``tags``.
    """

    id: str
    name: str
    status: str
    #: The underlying model ARNs.
    models: List[str]
    #: Each underlying model's plain id, once, in the order of ``models``.
    modelIds: List[str]


class AnswerMeta(TypedDict):
    """What every successful answer says about itself."""

    source: Source
    cache: CacheState
    #: The answering snapshot's age, in seconds.
    ageSeconds: float


class OneAnswer(AnswerMeta):
    """A ``match=one`` answer, and the answer of the reverse lookup: ``{"profile": {...}, ...}``."""

    profile: Profile


class AllAnswer(AnswerMeta):
    """A ``match=all`` answer: ``{"profiles": [...], ...}``, empty when nothing matched."""

    profiles: List[Profile]


class QueryAnswer(AnswerMeta, total=False):
    """The answer of a query whose match mode the caller chose at run time: ``profile`` for
    ``match=one``, ``profiles`` for ``match=all``."""

    profile: Profile
    profiles: List[Profile]


class _ErrorDetailRequired(TypedDict):
    code: str
    message: str


class ErrorDetail(_ErrorDetailRequired, total=False):
    """The ``error`` object of an error answer; the optional keys depend on ``code``."""

    #: ``InvalidQuery``: the request field at fault.
    field: str
    #: ``AmbiguousMatch``: the first matching ARNs, sorted.
    candidates: List[str]
    #: ``AmbiguousMatch``: how many matched; ``TooManyResults``: how many profiles the refused
    #: answer held.
    count: int
    #: ``UpstreamUnavailable``: the failing upstream operation.
    operation: str


class ErrorBody(TypedDict):
    """An error answer: ``{"error": {"code": ..., "message": ..., ...}}``."""

    error: ErrorDetail


class _BatchResultRequired(TypedDict):
    status: int


class BatchResult(_BatchResultRequired, total=False):
    """One result of a batch, in the place of its query.

    ``status`` 200 carries the answer's keys (``profile`` or ``profiles``, ``source``,
    ``cache``, ``ageSeconds``); any other status carries ``error`` instead.
    """

    profile: Profile
    profiles: List[Profile]
    source: Source
    cache: CacheState
    ageSeconds: float
    error: ErrorDetail


class _RegionHealthRequired(TypedDict):
    ready: bool
    state: RegionState
    profiles: int
    builds: int


class RegionHealth(_RegionHealthRequired, total=False):
    """The readiness of one region: whether a usable snapshot exists, and how old it is."""

    ageSeconds: float
    #: The operation of the last failed refresh, until one succeeds.
    lastError: str


class Health(TypedDict):
    """The answer of ``/health``: ``{"status": "ok", "regions": {"us-east-1": {...}}}``."""

    status: str
    regions: Dict[str, RegionHealth]
