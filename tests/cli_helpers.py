"""Running ``python -m bench`` in-process for tests, and reading its one-line errors."""

import contextlib
import io

from bench.cli import main


def cli(*arguments: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``python -m bench ARGUMENTS`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(arguments))
    return status, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    """The single ``error:`` line of a failed command (no traceback, nothing else)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]
