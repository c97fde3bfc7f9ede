"""Shared test setup: one torch thread (CI has 2 cores and runs tests in parallel with nothing else),
and the project most plugin tests run hypothesis files in.

cfsal and ale_py are imported here, before any test: ``pytester`` forgets the modules a test
imported, and a native extension such as ale_py's aborts the process when it is imported a second time.
"""

import ale_py  # noqa: F401 -- see the module docstring
import pytest
import torch

import cfsal  # noqa: F401 -- see the module docstring

torch.set_num_threads(1)

pytest_plugins = ["pytester"]


#: A hypothesis project's conftest that hands every hypothesis the tiny agent (fast; no zoo weights).
TINY_AGENT_CONFTEST = '''
import pytest
from cfsal.testing import tiny_agent

@pytest.fixture
def agent():
    return tiny_agent(seed=0, name="tiny")
'''


@pytest.fixture
def tiny_project(pytester):
    """``pytester`` with :data:`TINY_AGENT_CONFTEST` written: write hypothesis files into it and run them
    as a user would (``tiny_project.runpytest_subprocess(...)``)."""
    pytester.makeconftest(TINY_AGENT_CONFTEST)
    return pytester


@pytest.fixture
def tiny_agent_conftest() -> str:
    """The text of :data:`TINY_AGENT_CONFTEST`, for a project laid out in subfolders."""
    return TINY_AGENT_CONFTEST
