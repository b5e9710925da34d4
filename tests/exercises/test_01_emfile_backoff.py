"""Exercise emfile-backoff (chapter 01): out of descriptors, the accept loop must not spin.

When accept() fails with EMFILE the pending connection stays in the backlog, so the listener
stays readable and poll() returns at once: a loop that simply tries again burns a whole core
for as long as descriptors are short. The reference answers every accept failure through
common::accept_or_back_off(), which pauses about 100 ms after EMFILE.

This is the black-box suite's own EMFILE test, run on the learner's copy: it lowers the
server's RLIMIT_NOFILE to the descriptors it holds (prlimit), queues clients, and measures the
CPU the server uses meanwhile; then it gives the descriptors back and expects every queued
client to be served.
"""

from test_emfile import test_emfile_no_spin_and_recovery  # noqa: F401  (collected by pytest)
