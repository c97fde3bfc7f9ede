"""Draw branch points from a declared :class:`~cfsal.rollout.design.States` distribution, episodes in lockstep.

Two parts. An :class:`EpisodeStore` plays independently seeded episodes of one agent under one
design and keeps each episode's *candidates* (the snapshots at its drawn steps, or how many it
never reached). Episode ``e`` is seeded from ``child(seed, e, 0)`` (environment), ``child(seed, e,
1)`` (action uniforms) and ``child(seed, e, 2)`` (its drawn steps), so what it holds depends on the
seed and ``e`` alone. Episodes play in a lockstep batch (one blocked forward for every playing
episode per step; the rows of a 16-row block do not depend on each other:
:data:`cfsal.agents.base.FORWARD_BLOCK`), and a slot that frees is refilled with the next episode.

A :class:`StateSampler` walks a store's episodes in order and keeps the candidates where its
intervention applies, so the k-th sample is the same however many are asked for, whatever the
batch width, and whoever else reads the store. Hypotheses of one session that share an agent and a
design share one store (:func:`shared_store`): the episodes are played once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import FORWARD_BLOCK, Agent, actions_from_logits, blocked_logits_and_value, deterministic_forwards
from cfsal.envs import make
from cfsal.errors import CfsalError
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.design import Selection, States

#: Episodes played side by side (each a row of the blocked forward; two 16-row blocks).
DEFAULT_WIDTH = 32
#: Most episodes a store plays before it gives up on finding states (a design no episode reaches).
MAX_EPISODES = 10_000


def drawn_steps(states: States, seed: np.random.SeedSequence | int, episode: int) -> np.ndarray:
    """The steps episode ``episode`` is sampled at: ``per_episode`` distinct steps of the window, sorted."""
    start, stop = states.window
    rng = np.random.default_rng(child(seed, episode, 2))
    return np.sort(rng.choice(np.arange(start, stop), size=states.per_episode, replace=False))


@dataclass(frozen=True)
class Candidates:
    """What one episode offers: a snapshot at each drawn step it reached, and how many it did not reach."""

    episode: int
    points: tuple[BranchPoint, ...]
    ended: int


@dataclass
class _Playing:
    """One episode under way: its environment, action stream and the steps still to be snapshotted."""

    index: int
    env: object
    obs: np.ndarray
    rng: np.random.Generator
    steps: list[int]
    points: list[BranchPoint] = field(default_factory=list)


class EpisodeStore:
    """The candidates of independently seeded episodes of ``agent`` under ``states``, played on demand.

    ``first`` skips the episodes before it (they are independent of it): to replay one episode.
    """

    def __init__(self, agent: Agent, states: States, *, seed: np.random.SeedSequence | int, greedy: bool = False,
                 width: int = DEFAULT_WIDTH, max_episode_steps: int = 27_000,
                 max_episodes: int = MAX_EPISODES, first: int = 0) -> None:
        if not isinstance(states, States):
            raise CfsalError(f"an episode store needs a cfsal.rollout.States design, got {states!r}.")
        self.agent, self.states, self.seed, self.greedy = agent, states, seed, greedy
        self.width, self.max_episode_steps, self.max_episodes = width, max_episode_steps, max_episodes
        self._playing: list[_Playing] = []
        self._done: dict[int, Candidates] = {}
        self._next = first  # the next episode to start (a store that replays a few begins later)
        self._constant = bool(getattr(agent, "ignores_observation", False))
        self.steps_played = 0  # agent steps of every episode played so far (what the candidates cost)

    def candidates(self, episode: int, ahead: int = 1) -> Candidates:
        """Episode ``episode``'s candidates, playing it (and up to ``ahead`` − 1 after it) if not yet played."""
        if episode >= self.max_episodes:
            raise CfsalError(f"episode {episode} of {self.agent.name} asked for; a store plays at most "
                             f"{self.max_episodes}.")
        with deterministic_forwards():
            while episode not in self._done:
                self._fill(min(episode + max(ahead, 1), self.max_episodes))
                self._step_all()
        return self._done[episode]

    def _fill(self, until: int) -> None:
        """Start the episodes before ``until`` that are not under way, as slots allow.

        The forward block the last one joins is filled with later episodes too: a block costs the same
        forward however many of its rows are used, so they cost only their environment steps.
        """
        if self._next >= until and self._playing:
            return
        target = min(self.width, -(-(len(self._playing) + max(1, until - self._next)) // FORWARD_BLOCK)
                     * FORWARD_BLOCK)
        while len(self._playing) < target and self._next < self.max_episodes:
            self._start(self._next)
            self._next += 1

    def _start(self, index: int) -> None:
        env = make(self.agent.spec.game, max_episode_steps=self.max_episode_steps)
        obs, _ = env.reset(seed=int(child(self.seed, index, 0).generate_state(1)[0]))
        episode = _Playing(index, env, obs, np.random.default_rng(child(self.seed, index, 1)),
                           drawn_steps(self.states, self.seed, index).tolist())
        self._playing.append(episode)
        self._visit(episode)

    def _visit(self, episode: _Playing) -> None:
        """Snapshot the episode if it stands at its next drawn step; finish it when none is left."""
        if episode.steps and episode.env.steps == episode.steps[0]:
            episode.steps.pop(0)
            episode.points.append(BranchPoint(episode.index, episode.env.steps, episode.env.snapshot()))
        if not episode.steps:
            self._finish(episode)

    def _finish(self, episode: _Playing) -> None:
        self._done[episode.index] = Candidates(episode.index, tuple(episode.points), len(episode.steps))
        episode.steps = []
        episode.env.close()

    def _step_all(self) -> None:
        """One lockstep step of every playing episode: one blocked forward, then each environment."""
        playing = [e for e in self._playing if e.steps]
        self._playing = playing
        if not playing:
            return
        observations = np.stack([e.obs for e in playing])
        if self._constant:
            logits, _ = blocked_logits_and_value(self.agent, observations[:1])
            logits = logits.expand(len(playing), -1)
        else:
            logits, _ = blocked_logits_and_value(self.agent, observations)
        uniforms = np.array([e.rng.random() for e in playing])
        actions = actions_from_logits(logits, greedy=self.greedy, uniforms=uniforms)
        self.steps_played += len(playing)
        for episode, action in zip(playing, actions):
            episode.obs, _, terminated, truncated, _ = episode.env.step(int(action))
            if terminated or truncated:
                self._finish(episode)
            else:
                self._visit(episode)
        self._playing = [e for e in self._playing if e.steps]


#: Per agent: its stores, by (design, seed, greedy). Weak keys, so a store never keeps an agent alive.
_STORES: weakref.WeakKeyDictionary[Agent, dict[tuple, EpisodeStore]] = weakref.WeakKeyDictionary()


def shared_store(agent: Agent, states: States, *, seed: int, greedy: bool = False) -> EpisodeStore:
    """This process's store for (agent, design, seed, greedy): every caller with the same key reads the
    same episodes, played once (the plugin passes one seed per session, so its hypotheses share them)."""
    stores = _STORES.setdefault(agent, {})
    key = (states, int(seed), bool(greedy))
    if key not in stores:
        stores[key] = EpisodeStore(agent, states, seed=np.random.SeedSequence(int(seed)), greedy=greedy)
    return stores[key]


class StateSampler:
    """Samples of a design: the candidates of a store's episodes, in order, where ``applies`` holds.

    ``applies(point)`` says whether the intervention applies at a candidate (``point.episode`` lets a
    dose-response design assign interventions by episode). Without ``store`` the sampler plays its
    own episodes from ``seed``.
    """

    def __init__(self, agent: Agent, states: States, *, seed: np.random.SeedSequence | int = 0,
                 applies: Callable[[BranchPoint], bool] | None = None, greedy: bool = False,
                 width: int = DEFAULT_WIDTH, store: EpisodeStore | None = None,
                 max_episodes: int = MAX_EPISODES) -> None:
        self.store = store or EpisodeStore(agent, states, seed=seed, greedy=greedy, width=width,
                                           max_episodes=max_episodes)
        if self.store.states != states or self.store.greedy != greedy:
            raise CfsalError("StateSampler: the store was played under another design or greedy setting.")
        self.applies = applies or (lambda point: True)
        self._episode = 0          # the next episode to read
        self._ready: list[BranchPoint] = []  # kept, in order, not yet handed out
        self._read: list[tuple[int, int, int]] = []  # (episode, ended, not applicable) read, not yet counted
        self._selection = Selection(kept=0, episodes=0)
        self._kept_read = self._candidates_read = 0

    @property
    def steps_played(self) -> int:
        return self.store.steps_played

    @property
    def selection(self) -> Selection:
        """The candidates behind every sample handed out so far."""
        return self._selection

    def take(self, count: int) -> list[BranchPoint]:
        """The next ``count`` samples, in order (episode, then step)."""
        while len(self._ready) < count:
            self._read_next(count - len(self._ready))
        taken, self._ready = self._ready[:count], self._ready[count:]
        last = taken[-1].episode if taken else -1
        covered = [r for r in self._read if r[0] <= last]
        self._read = [r for r in self._read if r[0] > last]
        s = self._selection
        self._selection = Selection(kept=s.kept + len(taken), episodes=s.episodes + len(covered),
                                    ended=s.ended + sum(r[1] for r in covered),
                                    not_applicable=s.not_applicable + sum(r[2] for r in covered))
        return taken

    def _read_next(self, wanted: int) -> None:
        """Read the next episode, asking the store to play as many ahead as ``wanted`` samples likely need."""
        if self._episode >= self.store.max_episodes:
            raise CfsalError(self._exhausted())
        rate = max(self._kept_read / self._candidates_read, 0.05) if self._kept_read else 1.0
        ahead = int(np.ceil(wanted / (rate * self.store.states.per_episode)))
        found = self.store.candidates(self._episode, ahead=ahead)
        kept = [point for point in found.points if self.applies(point)]
        self._ready.extend(kept)
        self._read.append((self._episode, found.ended, len(found.points) - len(kept)))
        self._kept_read += len(kept)
        self._candidates_read += len(found.points) + found.ended
        self._episode += 1

    def _exhausted(self) -> str:
        return (f"only {self._kept_read} states in {self._episode} episodes of {self.store.agent.name} "
                f"({self._candidates_read - self._kept_read} candidates set aside); the design "
                f"{self.store.states.describe()!r} finds too few. Pick a window the agent's episodes reach "
                "(States(window=(start, stop))) or an intervention that applies more often, or ask for fewer "
                "samples.")


def sample_states(agent: Agent, states: States, count: int, *, seed: np.random.SeedSequence | int,
                  applies: Callable[[BranchPoint], bool] | None = None, greedy: bool = False,
                  width: int = DEFAULT_WIDTH) -> tuple[list[BranchPoint], Selection]:
    """``count`` branch points from ``states`` and the selection behind them (see :class:`StateSampler`)."""
    sampler = StateSampler(agent, states, seed=seed, applies=applies, greedy=greedy, width=width)
    points = sampler.take(count)
    return points, sampler.selection
