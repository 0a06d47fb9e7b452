"""mpa-bench: benchmark and evaluation suite for all-in-one learned image coding (MPA) and its baselines."""

__version__ = "0.1.0"
