"""msgsim's simulated cloud: SQS, SNS, Kinesis and Lambda-style functions on trio's clock.

>>> from msgsim.broker import Broker, BrokerError
"""

from .errors import BrokerError
from .functions.options import LambdaOptions
from .runtime import Broker

__all__ = ["Broker", "BrokerError", "LambdaOptions"]
