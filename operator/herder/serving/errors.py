"""One error hierarchy for the server, each class carrying its HTTP status (the MLServer pattern).

Every problem the server can name is raised as a ServingError subclass and rendered as ``{"error": message}``
with that status by the HTTP layer; anything else is a bug and becomes a 500 with a generic message. Client
mistakes are always one of the 4xx classes below, never a 500.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base class; ``status`` is the HTTP status code the HTTP layer answers with."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ServingError):
    """The request is malformed: bad JSON, wrong shape or dtype, missing/extra features, non-finite values."""

    status = 400


class NotFoundError(ServingError):
    """No such route, model or request id."""

    status = 404


class MethodNotAllowedError(ServingError):
    """The route exists but not for this HTTP method."""

    status = 405


class PayloadTooLargeError(ServingError):
    """The body is larger than the configured cap."""

    status = 413


class UnavailableError(ServingError):
    """The server cannot take the request now (overloaded, not ready, draining); retrying later may work."""

    status = 503


class InjectedFaultError(ServingError):
    """A fault injected on purpose with --inject-error-rate (tests and demos only)."""

    status = 500
