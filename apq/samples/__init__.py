"""Accuracy samples of sub-nets (fp32 and quantized) and their HDF5 files."""
