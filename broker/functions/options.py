"""The tunables of the simulated Lambda (:class:`LambdaOptions`)."""

from __future__ import annotations

from .. import limits


class LambdaOptions:
    """Tunables of the simulated Lambda (a scenario studies cold starts by raising them).

    ``account_concurrency``: the regional ConcurrentExecutions limit (AWS default 1,000).
    ``cold_start``: seconds a new execution environment takes before the handler runs (0 by
    default, so unit tests see none). ``environment_idle``: seconds after which an idle
    environment is reaped (AWS does not document it; 10 minutes is msgsim's choice).
    ``mapping_delay``: seconds an event source mapping spends Creating, Enabling, Disabling,
    Updating or Deleting (AWS takes a few seconds; 0 by default).
    """

    def __init__(
        self,
        account_concurrency: int = limits.LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT,
        cold_start: float = 0.0,
        environment_idle: float = 600.0,
        mapping_delay: float = 0.0,
    ) -> None:
        if account_concurrency < limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN:
            raise ValueError(
                f"account_concurrency must be at least {limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN}"
            )
        self.account_concurrency = account_concurrency
        self.cold_start = cold_start
        self.environment_idle = environment_idle
        self.mapping_delay = mapping_delay
