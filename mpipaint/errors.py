"""The one exception type for bad input, so the CLI can turn it into a clear message and exit code."""


class InputError(ValueError):
    """Bad or inconsistent input data; the message names the file, dataset or halo and what was expected."""
