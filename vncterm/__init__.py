"""vncterm: serve a text console (pty, command, serial socket) as an RFB (VNC) desktop."""

__version__ = "0.1.0"
