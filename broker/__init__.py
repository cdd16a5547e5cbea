"""msgsim's simulated cloud: SQS, SNS and Kinesis on trio's clock.

>>> from broker import Broker, BrokerError
"""

from .errors import BrokerError
from .runtime import Broker

__all__ = ["Broker", "BrokerError"]
