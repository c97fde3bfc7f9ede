"""Stateless seed derivation.

``numpy.random.SeedSequence.spawn`` is stateful: spawning twice from the same object gives
different children. cfsal passes seeds around and may run the same branch in several places
(executors, replays), so children are derived from (entropy, spawn key) alone.
"""

from __future__ import annotations

import numpy as np


def as_seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def child(seed: int | np.random.SeedSequence, *path: int) -> np.random.SeedSequence:
    """The descendant of ``seed`` at ``path``; the same every time it is asked for."""
    parent = as_seed_sequence(seed)
    return np.random.SeedSequence(entropy=parent.entropy, spawn_key=(*parent.spawn_key, *path),
                                  pool_size=parent.pool_size)


def children(seed: int | np.random.SeedSequence, count: int) -> list[np.random.SeedSequence]:
    return [child(seed, i) for i in range(count)]
