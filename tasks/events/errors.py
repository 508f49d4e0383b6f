"""Errors of the event publisher: bad configuration up front, failed deliveries as data.

A delivery that fails is never raised to whoever published the event: the publisher catches
:class:`DeliveryFailed`, spools the event and counts the failure. Only configuration that
cannot work (a sink URL that is not http(s), a spool path that is a folder) raises, once,
when the publisher or spool is built.
"""

from __future__ import annotations

from blocks.errors import BackendUnavailable, ConfigError, UsageError


class EventConfigError(ConfigError):
    """A publisher, spool or breaker setting cannot work; nothing was started."""

    remediation = "Fix the reported setting (sink URL, spool path, limits) and start again."


class InvalidEvent(UsageError):
    """An event helper was given a value the seed's payload cannot carry."""

    remediation = "Pass the value the message names (see A2AEvent's helpers) and publish again."


class DeliveryFailed(BackendUnavailable):
    """The sink did not accept one event: timeout, refused connection or a non-2xx status."""

    remediation = (
        "The event stays in the spool and is retried with backoff; check that the sink is up "
        "and answers 2xx, then call drain_spool()."
    )
    retryable = True
