"""Ways into the broker. They translate; the broker decides."""

from .client import ServiceClient
from .inprocess import InProcessClient
from .loopback import open_loopback_client
from .tcp_client import TcpClient
from .tcp_server import TcpServer

__all__ = ["InProcessClient", "ServiceClient", "TcpClient", "TcpServer", "open_loopback_client"]
