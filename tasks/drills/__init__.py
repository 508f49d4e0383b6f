"""Chaos drills (seed 002 §5): the five Layer 2 scenarios as Chaos Toolkit experiments."""
