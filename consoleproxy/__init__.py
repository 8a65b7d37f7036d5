"""consoleproxy: the `CONNECT /console` front door to VM and host consoles."""

__version__ = "0.1.0"
