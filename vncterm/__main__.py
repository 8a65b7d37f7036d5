"""`python -m vncterm` runs the vncterm command line."""

from vncterm.cli import main

main()
