"""Repository-wide pytest setup: Hypothesis settings profiles for the framework's own tests.

Select with ``CFSAL_PROFILE=ci|dev|thorough`` (default ``ci``): ``ci`` keeps property tests to a
bounded number of examples with no timing flakiness (deadline off, derandomised, no example
database), ``dev`` explores more and remembers failures locally, ``thorough`` is the long run whose
counts go into the README. Searches over real rollouts use ``cfsal.ROLLOUT_SEARCH`` instead.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("CFSAL_PROFILE", "ci"))
