"""LoRA gauntlet deploy: adapter integrity, targets, gauntlet, readiness."""
