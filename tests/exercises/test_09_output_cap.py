"""Exercise output-cap (chapter 09): a client that never reads must not be read either.

A multishot receive stays armed until it is cancelled, so the starting copy, which never
cancels it, takes every byte a client sends: a client that pipelines requests and never reads
its answers makes the server buffer its whole flood, and TCP flow control never stops it. The
reference cancels the receive while the connection's unsent output is over kOutputCap and arms
it again once the output drains. This is the black-box suite's own test of that client, run on
the learner's copy.
"""

from test_faults import test_client_that_never_reads_is_held_back  # noqa: F401  (collected by pytest)
