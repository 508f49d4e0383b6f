"""Intent governance (seed 002, section 4): tiers, alignment, proven approvals."""
