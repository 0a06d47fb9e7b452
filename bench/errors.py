"""User-facing errors: each carries a one-line message that names the file and the fix."""


class BenchError(Exception):
    """An error the CLI prints as one line (no traceback) before exiting with status 2."""


class ImageError(BenchError):
    """An image file that cannot be read or decoded."""


class CheckpointError(BenchError):
    """A checkpoint that is missing, unreadable or of the wrong architecture."""


class DatasetError(BenchError):
    """A dataset that is missing, incomplete or corrupt."""


class MetricUnavailable(BenchError):
    """A metric that cannot be computed here (for example, its network weights are not in the cache)."""


class NotApplicable(Exception):
    """A metric that does not apply to one image (too small, wrong kind); recorded as n/a with the reason."""
