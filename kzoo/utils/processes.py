"""Ending a child process politely: SIGTERM, a wait, then SIGKILL."""

import subprocess


def stop(process, timeout=15.0):
    """Terminates `process` (a `subprocess.Popen`) and reaps it; kills it after `timeout` s.

    Returns:
        The process's exit status.
    """
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
