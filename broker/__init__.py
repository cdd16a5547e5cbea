"""msgsim's simulated cloud: SQS (standard and FIFO queues) on trio's clock.

>>> from broker import Broker, BrokerError
"""

from .errors import BrokerError
from .runtime import Broker

__all__ = ["Broker", "BrokerError"]
