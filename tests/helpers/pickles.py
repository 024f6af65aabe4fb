"""Pickle payloads that must never be unpickled."""
import os


class Exploit:
    """Unpickling this calls ``os.makedirs(marker)``: proof that a file was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker,)
