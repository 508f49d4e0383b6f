"""Workflow health: classify workflow files with a checker, baselines, regressions, trends."""
