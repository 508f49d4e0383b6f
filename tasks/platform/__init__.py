"""Conventions every flow shares: where files go, artifact keys, event names, the kill switch."""
