"""`python -m vncterm.demo` runs the demo console in the current terminal."""

from vncterm.demo import main

main()
