"""Exercise accept-pause (chapter 09): out of descriptors, the ring must rest, not spin.

On EMFILE the kernel ends the multishot accept with that error, and the client it could not
take stays in the backlog. The starting copy arms a new accept at once, which fails at once: a
loop of io_uring_enter() calls at 100% CPU, in the kernel. The reference waits 100 ms (the
ring's wait() wakes up for it) before arming it again.

This is the black-box suite's test of a server started with only 40 descriptors. Its other
EMFILE test, which lowers the limit of a running server with prlimit, does not reach a multishot
accept: the kernel reads RLIMIT_NOFILE when the accept is submitted, and this one was submitted
at start-up, under the old limit.
"""

from test_emfile import test_low_descriptor_limit_from_start  # noqa: F401  (collected by pytest)
