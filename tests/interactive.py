"""Starting a command the way an interactive shell does, for tests that press Ctrl-C.

A process that inherits SIGINT ignored or blocked (`cmd &` in a script, or a test runner's
worker left that way by a library) keeps it so, rightly: Ctrl-C then does nothing and the
command runs to its end. A test that sends SIGINT must not depend on what its runner
inherited, so it starts the command with SIGINT at its default and unblocked."""

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
