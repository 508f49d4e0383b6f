"""Checkpoint integrity: seal a checkpoint directory, verify it before anything loads it.

A shared package (tests/unit/test_layout.py's SHARED): the go/no-go ``checkpoint`` gate
(tasks/gates) and the safety plan's tasks (tasks/plans) both call
:func:`tasks.checkpoints.verify.verify_checkpoint`. It imports no other concern.
"""
