"""Ways into the broker. They translate; the broker decides."""

from .client import ServiceClient
from .inprocess import InProcessClient

__all__ = ["InProcessClient", "ServiceClient"]
