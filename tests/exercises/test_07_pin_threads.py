"""Exercise pin-threads (chapter 07): each loop thread pinned to its own core.

The starting copy leaves the loop threads to the scheduler, which may move them between cores
at any time (and take a loop's caches with it). The reference pins each with
pthread_setaffinity_np(). This is the black-box suite's own pinning test, run on the learner's
copy: it reads each thread's Cpus_allowed_list in /proc.
"""

from test_pinning import pinning, test_each_loop_is_pinned_to_its_own_cpu  # noqa: F401
