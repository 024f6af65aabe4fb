"""Helpers shared by the test modules; test modules and conftests import these, never each other."""
