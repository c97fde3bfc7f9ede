"""Shared test setup: one torch thread (CI has 2 cores and runs tests in parallel with nothing else)."""

import torch

torch.set_num_threads(1)

pytest_plugins = ["pytester"]
