"""The ``warden`` command line: each subcommand runs a flow and exits with its verdict code."""
