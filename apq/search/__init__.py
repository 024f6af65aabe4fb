"""Joint search of architecture, channels and bit policy and its baselines: one evolution loop
(:mod:`apq.search.evolution`) with a selection per method (GA, NSGA-II, random)."""
