"""msgsim: a deterministic, virtual-time simulator of AWS SQS, SNS, Kinesis and Lambda-style
functions, for trio.

This module is the public face. Everything a user needs is importable from here::

    from msgsim import Broker, BrokerError, InProcessClient

- :class:`Broker` runs the simulated cloud for the duration of ``async with Broker.open(...)``.
  The same seed, the same calls and the same clock give the same results, byte for byte.
- :class:`InProcessClient` (direct calls) and :class:`TcpClient` (a ``msgsim serve`` daemon)
  have the same boto3-shaped surface: ``aws.client("sqs").send_message(QueueUrl=..., ...)``.
- :class:`BrokerError` is the only exception a broker operation raises: ``.code`` is the AWS
  error code, ``.query_code`` the legacy query-protocol code where AWS has one.
- :class:`SnsOptions`, :class:`KinesisOptions` and :class:`LambdaOptions` tune a broker's
  services (quotas, delays, cold starts); pass them to :meth:`Broker.open`.

The rest (``msgsim.broker``, ``msgsim.adapters``, ``msgsim.scenarios``) is reachable but not
part of the advertised surface; it may change between releases.
"""

from __future__ import annotations

from msgsim.adapters.inprocess import InProcessClient
from msgsim.adapters.tcp_client import TcpClient
from msgsim.broker.errors import BrokerError
from msgsim.broker.functions.options import LambdaOptions
from msgsim.broker.kinesis.options import KinesisOptions
from msgsim.broker.runtime import Broker
from msgsim.broker.sns.options import SnsOptions

__all__ = [
    "Broker",
    "BrokerError",
    "InProcessClient",
    "KinesisOptions",
    "LambdaOptions",
    "SnsOptions",
    "TcpClient",
]
