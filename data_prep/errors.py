"""User-facing error types shared by every rnnsweep stage."""


class InputError(ValueError):
    """Bad input or configuration that the user can fix.

    The message is one line that names the file, column, option or value at fault and
    says how to fix it. The command-line interface prints it and exits with code 2.
    """


def check_one_of(name, value, choices):
    """Raise `InputError` unless `value` is one of `choices`.

    Args:
        name: The option's name, as the user writes it.
        value: The value received.
        choices: The accepted values.

    Raises:
        InputError: `value` is not in `choices`.
    """
    try:
        known = value in choices
    except TypeError:  # an unhashable value (a TOML table or list) is no choice
        known = False
    if not known:
        raise InputError(f"Expected one of {sorted(choices)}. Received: {name}={value!r}")


def check_positive_int(name, value):
    """Raise `InputError` unless `value` is an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"{name} must be a whole number greater than 0. Received: {name}={value!r}")


def check_fraction(name, value):
    """Raise `InputError` unless `value` is a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise InputError(f"{name} must be a number between 0 and 1. Received: {name}={value!r}")
