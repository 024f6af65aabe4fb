"""APQ engine: joint search of architecture, channel pruning and mixed-precision quantization."""

__version__ = "0.1.0"
