"""Exercise emfile-pause (chapter 04): out of descriptors, the loop must rest, not spin.

The listener is level-triggered, and a connection that accept() cannot take (EMFILE) stays in
the backlog, so epoll_wait() reports the listener again at once: the starting copy, which only
returns and waits for the next event, turns that into a busy loop at 100% CPU. The reference
takes the listener out of the epoll set for 100 ms each time. This is the black-box suite's own
EMFILE test, run on the learner's copy.
"""

from test_emfile import test_emfile_no_spin_and_recovery  # noqa: F401  (collected by pytest)
