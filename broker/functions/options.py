"""The tunables of the simulated Lambda (:class:`LambdaOptions`)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from .. import limits
from .handlers import HandlerRoots


class LambdaOptions:
    """Tunables of the simulated Lambda (a scenario studies cold starts by raising them).

    ``account_concurrency``: the regional ConcurrentExecutions limit (AWS default 1,000).
    ``cold_start``: seconds a new execution environment takes before the handler runs (0 by
    default, so unit tests see none). ``environment_idle``: seconds after which an idle
    environment is reaped (AWS does not document it; 10 minutes is msgsim's choice).
    ``mapping_delay``: seconds an event source mapping spends Creating, Enabling, Disabling,
    Updating or Deleting (AWS takes a few seconds; 0 by default).
    ``handler_roots``: the folders import-string handlers may load from (see
    :mod:`~.handlers`); None (the default): any importable module, as fits a broker in the
    process of the code that chose its handlers. ``msgsim serve`` passes its ``--handlers``.
    ``handler_threads``: run plain (not ``async def``) handlers in a worker thread, so one that
    blocks holds up only its own invocation (at its Timeout the invocation fails and the thread
    is abandoned, as Lambda stops a sandbox). Off by default: under trio's autojump clock the
    clock would jump while a thread runs (DESIGN.md, Time). ``msgsim serve`` turns it on.
    """

    def __init__(
        self,
        account_concurrency: int = limits.LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT,
        cold_start: float = 0.0,
        environment_idle: float = 600.0,
        mapping_delay: float = 0.0,
        handler_roots: Iterable[str | os.PathLike[str]] | None = None,
        handler_threads: bool = False,
    ) -> None:
        if account_concurrency < limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN:
            raise ValueError(
                f"account_concurrency must be at least {limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN}"
            )
        self.account_concurrency = account_concurrency
        self.cold_start = cold_start
        self.environment_idle = environment_idle
        self.mapping_delay = mapping_delay
        self.handler_threads = handler_threads
        if isinstance(handler_roots, str | os.PathLike):
            raise TypeError("handler_roots is a list of folders, not one folder")
        self.handler_roots = None if handler_roots is None else HandlerRoots(handler_roots)
