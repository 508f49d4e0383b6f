"""The orchestration guard (seed 002): readiness, watchdog, decision log and load shedding of
the Prefect platform that runs every other flow."""
