"""Joint search of architecture, channels and bit policy (DEAP GA, NSGA-II) and its baselines."""
