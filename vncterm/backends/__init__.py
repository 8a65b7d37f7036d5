"""Console sources: a spawned command in a pty, an existing pty device, a serial socket."""
