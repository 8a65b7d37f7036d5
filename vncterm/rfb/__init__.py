"""Sans-I/O RFB server (RFC 6143): messages, pixel formats, security, state machine, encoders."""
