"""Starting a command the way an interactive shell does, for tests that press Ctrl-C.

A process that inherits SIGINT ignored or blocked keeps it so, rightly: Ctrl-C then does
nothing and the command runs to its end. A non-interactive shell starts every background job
(`python -m pytest &` in a script, `(pytest &)`) with SIGINT ignored, and the suite's own
processes hand that on to every command they start: a test that sent SIGINT to such a command
saw it exit 0. So a test that sends SIGINT starts its command with SIGINT at its default and
unblocked, whatever its runner inherited."""

import signal


def as_from_a_shell() -> None:
    """`preexec_fn` of the command: SIGINT handled and unblocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def signal_masks(pid: int) -> str:
    """The process's blocked, ignored and caught signal masks (/proc), for a failure message."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return " ".join(line.strip() for line in f if line.startswith(("SigBlk", "SigIgn", "SigCgt")))
    except OSError:
        return "(gone)"
