"""Typed configuration: where settings come from, and the YAML models they load."""
