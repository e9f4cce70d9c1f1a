#!/usr/bin/env python
"""Harbormaster's command-line entry point."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hosting.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings
        from django.core.management import execute_from_command_line

        settings.INSTALLED_APPS  # noqa: B018 - parse the environment now, so a bad value stops here
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A bad setting: say which variable and why, without a traceback.
        print(f"Harbormaster cannot start: {exc}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        # `manage.py tasks list | head`: the reader has gone. Stop quietly, as a pipe's writer
        # killed by SIGPIPE does (exit 141); stdout goes to /dev/null so that the interpreter's
        # last flush of what is still buffered does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + 13)


if __name__ == "__main__":
    main()
