"""API Gateway HTTP API route keys and route selection (pure).

Route keys: `GET /items/{id}`, `ANY /{proxy+}`, `$default`. Selection follows AWS' order:
a route with the request's own method beats `ANY`; within that, a route without a greedy
variable beats one with; then segment by segment from the left, a literal beats a
`{variable}`; a longer literal prefix before `{proxy+}` beats a shorter one; `$default`
is last. A greedy variable matches one segment or more (never the bare `/`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
DEFAULT_ROUTE = "$default"
_VARIABLE = re.compile(r"^\{([A-Za-z0-9._:-]+)(\+?)\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*,;=:@%-]+$")


class RouteKeyError(ValueError):
    """A route key that API Gateway would refuse (message in its words)."""


@dataclass(frozen=True)
class Route:
    key: str
    method: str  # "" for $default
    path: str  # "" for $default
    # One entry per segment: ("lit", text) | ("var", name); a greedy variable is last.
    segments: tuple[tuple[str, str], ...]
    greedy: str | None  # the greedy variable's name

    @property
    def rank(self) -> tuple[int, int, tuple[int, ...]]:
        """Larger is more specific."""
        if not self.method:
            return (-1, 0, ())
        return (
            0 if self.method == "ANY" else 1,
            0 if self.greedy else 1,
            tuple(2 if kind == "lit" else 1 for kind, _ in self.segments),
        )


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


def parse_route_key(key: str) -> Route:
    if key == DEFAULT_ROUTE:
        return Route(DEFAULT_ROUTE, "", "", (), None)
    method, sep, path = key.partition(" ")
    if not sep or method not in METHODS:
        raise RouteKeyError(
            f"Invalid route key {key!r}: expected '$default' or 'METHOD /path' with METHOD one "
            f"of {', '.join(METHODS)}."
        )
    if not path.startswith("/") or " " in path:
        raise RouteKeyError(f"Invalid route key {key!r}: the path must start with '/'.")
    if path == "/":
        return Route(key, method, path, (), None)
    parts = path[1:].split("/")
    segments: list[tuple[str, str]] = []
    greedy: str | None = None
    names: set[str] = set()
    for i, part in enumerate(parts):
        variable = _VARIABLE.match(part)
        if variable:
            name, plus = variable.group(1), variable.group(2)
            if name in names:
                raise RouteKeyError(f"Invalid route key {key!r}: duplicate variable {name!r}.")
            names.add(name)
            if plus:
                if i != len(parts) - 1:
                    raise RouteKeyError(
                        f"Invalid route key {key!r}: a greedy path variable must be the last "
                        "segment."
                    )
                greedy = name
            else:
                segments.append(("var", name))
        elif part and _LITERAL.match(part):
            segments.append(("lit", part))
        else:
            raise RouteKeyError(f"Invalid route key {key!r}: invalid path segment {part!r}.")
    return Route(key, method, path, tuple(segments), greedy)


class RouteTable:
    """Routes of one API, most specific first."""

    def __init__(self, keys: Iterable[str]) -> None:
        routes = [parse_route_key(k) for k in keys]
        self.routes = sorted(routes, key=lambda r: r.rank, reverse=True)

    def match(self, method: str, path: str) -> RouteMatch | None:
        """`path` is the raw (percent-encoded) request path."""
        method = method.upper()
        parts = path[1:].split("/") if path.startswith("/") and path != "/" else []
        for route in self.routes:
            if not route.method:
                return RouteMatch(route, {})
            if route.method not in (method, "ANY"):
                continue
            params = _match_path(route, parts)
            if params is not None:
                return RouteMatch(route, params)
        return None


def _match_path(route: Route, parts: list[str]) -> dict[str, str] | None:
    fixed = len(route.segments)
    if route.greedy is None:
        if len(parts) != fixed:
            return None
    elif len(parts) <= fixed or not any(parts[fixed:]):
        return None
    params: dict[str, str] = {}
    for (kind, text), part in zip(route.segments, parts, strict=False):
        if kind == "lit":
            if unquote(part) != unquote(text):
                return None
        elif not part:
            return None
        else:
            params[text] = unquote(part)
    if route.greedy is not None:
        params[route.greedy] = unquote("/".join(parts[fixed:]))
    return params
