"""Draw branch points from a declared :class:`~cfsal.rollout.design.States` distribution, episodes in lockstep.

Two parts. An :class:`EpisodeStore` plays independently seeded episodes of one agent under one
design and keeps each episode's *candidates* (the snapshots at its drawn steps, or how many it
never reached). Episode ``e`` is seeded from ``child(seed, e, 0)`` (environment), ``child(seed, e,
1)`` (action uniforms) and ``child(seed, e, 2)`` (its drawn steps), so what it holds depends on the
seed and ``e`` alone. Episodes play in lockstep lanes of one forward block each (one blocked forward
per lane per step; the rows of a 16-row block do not depend on each other:
:data:`cfsal.agents.base.FORWARD_BLOCK`); one lane's environments step on a thread while the next
lane forwards, and a slot that frees is refilled with the next episode.

A :class:`StateSampler` walks a store's episodes in order and keeps the candidates where its
intervention applies, so the k-th sample is the same however many are asked for, whatever the
batch width, and whoever else reads the store. Hypotheses of one session that share an agent and a
design share one store (:func:`shared_store`): the episodes are played once.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import (
    FORWARD_BLOCK,
    Agent,
    BlockForward,
    actions_from_logits,
    deterministic_forwards,
)
from cfsal.envs import make
from cfsal.errors import CfsalError
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.design import Selection, States
from cfsal.rollout.states_cache import EpisodeCache

#: Episodes played side by side (each a row of the blocked forward; two 16-row blocks).
DEFAULT_WIDTH = 32
#: Agent steps after which an episode is cut (the ALE's and Toybox envs' own default, 108k frames).
EPISODE_STEP_LIMIT = 27_000
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
    With ``cache`` the episodes are read from disk when an earlier store with the same key played
    them, and written there when played (:mod:`cfsal.rollout.states_cache`).
    """

    def __init__(self, agent: Agent, states: States, *, seed: np.random.SeedSequence | int, greedy: bool = False,
                 width: int = DEFAULT_WIDTH, max_episode_steps: int = EPISODE_STEP_LIMIT,
                 max_episodes: int = MAX_EPISODES, first: int = 0, cache: EpisodeCache | None = None) -> None:
        if not isinstance(states, States):
            raise CfsalError(f"an episode store needs a cfsal.rollout.States design, got {states!r}.")
        self.agent, self.states, self.seed, self.greedy = agent, states, seed, greedy
        self.width, self.max_episode_steps, self.max_episodes = width, max_episode_steps, max_episodes
        #: forward blocks of episodes under way (a lane steps while the next one forwards)
        self._lanes: list[list[_Playing]] = [[] for _ in range(-(-width // FORWARD_BLOCK))]
        self._stepping: Future | None = None  # the lane being stepped, if any, and its index
        self._stepping_lane: int | None = None
        self._done: dict[int, Candidates] = {}
        self._next = first  # the next episode to start (a store that replays a few begins later)
        self.lengths: dict[int, int] = {}  # agent steps each episode played (those this store played)
        self._constant = bool(getattr(agent, "ignores_observation", False))
        self.steps_played = 0  # agent steps of every episode played so far (what the candidates cost)
        self.blocks_forwarded = 0  # forward blocks run for them (a block costs the same however many rows play)
        self.cache = cache
        self._replayer = None  # an environment that gives snapshots read from disk their native clone
        self._forward: BlockForward | None = None  # made anew for each call (the agent's weights as they are)

    def candidates(self, episode: int, ahead: int = 1) -> Candidates:
        """Episode ``episode``'s candidates, playing it (and up to ``ahead`` − 1 after it) if not yet played."""
        if episode >= self.max_episodes:
            raise CfsalError(f"episode {episode} of {self.agent.name} asked for; a store plays at most "
                             f"{self.max_episodes}.")
        with deterministic_forwards():
            if episode not in self._done:
                self._load(episode)  # once: episodes started later are looked up on disk as they start
            try:
                if episode not in self._done:  # to be played: one kept block for this call's forwards
                    self._forward = BlockForward(self.agent, tuple(self.agent.spec.observation.shape))
                while episode not in self._done:
                    self._round(min(episode + max(ahead, 1), self.max_episodes))
            finally:
                self._drain()
        return self._done[episode]

    def _round(self, until: int) -> None:
        """One step of the episodes in play, lane by lane: a lane's forward runs while the other lane's
        environments step (on the stepping thread), so forwards and stepping overlap. Episodes from
        ``until`` on (played ahead) step only where that costs no time (see :meth:`_players`)."""
        self._compact()
        for index, lane in enumerate(self._lanes):
            if self._stepping_lane == index:  # one lane: nothing to overlap with
                self._drain()
            lane[:] = [e for e in lane if e.steps]
            self._fill(lane, min(FORWARD_BLOCK, self.width - FORWARD_BLOCK * index), until)
            lane[:] = [e for e in lane if e.steps]  # an episode can end where it starts (window at 0)
            players = self._players(index, until)
            if not players:
                continue
            actions = self._actions(players)
            self.steps_played += len(players)
            self.blocks_forwarded += 1
            self._drain()
            self._stepping, self._stepping_lane = _stepper().submit(self._step, players, actions), index

    def _players(self, index: int, until: int) -> list[_Playing]:
        """The episodes of lane ``index`` that step this round.

        An episode played ahead (index ``until`` or later) takes a row of a block forwarded anyway for
        an episode wanted now, and steps while another lane forwards. With no other lane in play its
        steps would wait for the forward instead (the last, longest episodes of a batch): it pauses,
        and resumes where it stopped when a later call wants it. Which episodes step in which round
        changes only when an episode is played, never what it plays.
        """
        lane = self._lanes[index]
        if not any(e.index < until for e in lane):
            return []
        beside = any(e.index < until and e.steps for other in self._lanes if other is not lane for e in other)
        return list(lane) if beside else [e for e in lane if e.index < until]

    def _compact(self) -> None:
        """Gather the episodes under way into as few lanes as hold them: a lane costs a whole forward
        block per step however few of its rows play, so the last episodes of a batch should not play
        in two half-empty lanes. (Rare: waits for the lane being stepped.)"""
        playing = [[e for e in lane if e.steps] for lane in self._lanes]
        count = sum(map(len, playing))
        if sum(1 for lane in playing if lane) <= -(-count // FORWARD_BLOCK):
            return
        self._drain()
        everyone = [e for lane in playing for e in lane]
        for index, lane in enumerate(self._lanes):
            lane[:] = everyone[index * FORWARD_BLOCK:(index + 1) * FORWARD_BLOCK]

    def _load(self, episode: int) -> bool:
        """Read ``episode`` from the cache, if it is there; its Toybox states are replayed once."""
        found = None if self.cache is None else self.cache.load(episode)
        if found is None:
            return False
        points, ended = found
        if any(point.snapshot.native is None and getattr(point.snapshot, "has_recipe", False) for point in points):
            self._replayer = self._replayer or make(self.agent.spec.game, max_episode_steps=self.max_episode_steps)
            points = tuple(_with_native(self._replayer, point) for point in points)
        self._done[episode] = Candidates(episode, points, ended)
        return True

    def _drain(self) -> None:
        """Wait for the lane being stepped (its errors surface here)."""
        if self._stepping is not None:
            stepping, self._stepping, self._stepping_lane = self._stepping, None, None
            stepping.result()

    def _fill(self, lane: list[_Playing], capacity: int, until: int) -> None:
        """Start episodes in ``lane``'s free slots while episodes before ``until`` are not under way.

        A lane is one forward block: once it takes one episode it is filled with later ones too (a block
        costs the same forward however many of its rows are used, so they cost only their steps).
        """
        if self._next >= until and any(self._lanes):
            return
        while len(lane) < capacity and self._next < self.max_episodes:
            if self._next not in self._done and not self._load(self._next):
                lane.append(self._start(self._next))
            self._next += 1

    def _start(self, index: int) -> _Playing:
        env = make(self.agent.spec.game, max_episode_steps=self.max_episode_steps)
        obs, _ = env.reset(seed=int(child(self.seed, index, 0).generate_state(1)[0]))
        episode = _Playing(index, env, obs, np.random.default_rng(child(self.seed, index, 1)),
                           drawn_steps(self.states, self.seed, index).tolist())
        self._visit(episode)
        return episode

    def _visit(self, episode: _Playing) -> None:
        """Snapshot the episode if it stands at its next drawn step; finish it when none is left."""
        if episode.steps and episode.env.steps == episode.steps[0]:
            episode.steps.pop(0)
            episode.points.append(BranchPoint(episode.index, episode.env.steps, episode.env.snapshot()))
        if not episode.steps:
            self._finish(episode)

    def _finish(self, episode: _Playing) -> None:
        found = Candidates(episode.index, tuple(episode.points), len(episode.steps))
        self.lengths[episode.index] = episode.env.steps
        if self.cache is not None:
            self.cache.save(found.episode, found.points, found.ended)
        self._done[episode.index] = found
        episode.steps = []
        episode.env.close()

    def _actions(self, lane: list[_Playing]) -> np.ndarray:
        """One blocked forward for the lane (one row for an agent that ignores what it sees)."""
        logits, _ = self._forward([e.obs for e in (lane[:1] if self._constant else lane)])
        uniforms = np.array([e.rng.random() for e in lane])
        return actions_from_logits(logits.expand(len(lane), -1), greedy=self.greedy, uniforms=uniforms)

    def _step(self, lane: list[_Playing], actions: np.ndarray) -> None:
        """Step each episode of a lane with its action; snapshot or finish it as its drawn steps say."""
        for episode, action in zip(lane, actions):
            episode.obs, _, terminated, truncated, _ = episode.env.step(int(action))
            if terminated or truncated:
                self._finish(episode)
            else:
                self._visit(episode)


def _with_native(env, point: BranchPoint) -> BranchPoint:
    """The point with its state replayed into ``env`` and snapshotted again: exact, and cheap to restore."""
    env.restore(point.snapshot)
    return BranchPoint(point.episode, point.step, env.snapshot())


@functools.lru_cache(maxsize=1)
def _stepper() -> ThreadPoolExecutor:
    """The thread that steps one lane's environments while the caller forwards the other's.

    A thread, not the environment process (:mod:`cfsal.rollout.envprocess`): the forward releases the
    GIL in torch's kernels and Toybox's and the ALE's steps run in native code, so they overlap well
    enough here, and snapshots stay in this process, where the samplers read them.
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="cfsal-episodes")


#: Per agent: its stores, by (design, seed, greedy). Weak keys, so a store never keeps an agent alive.
_STORES: weakref.WeakKeyDictionary[Agent, dict[tuple, EpisodeStore]] = weakref.WeakKeyDictionary()


#: Where shared stores keep their episodes on disk (:func:`use_states_cache`); None: in memory only.
_CACHE_ROOT: Path | None = None


def use_states_cache(directory: str | Path | None) -> None:
    """Keep the episodes of shared stores made from now on in ``directory`` (None: in memory only).

    The plugin calls it once per session (``reports/cache/states`` under the rootdir by default), so a
    session re-run with the same seed reads its states instead of playing them again.
    """
    global _CACHE_ROOT
    _CACHE_ROOT = None if directory is None else Path(directory)


def shared_store(agent: Agent, states: States, *, seed: int, greedy: bool = False) -> EpisodeStore:
    """This process's store for (agent, design, seed, greedy): every caller with the same key reads the
    same episodes, played once (the plugin passes one seed per session, so its hypotheses share them),
    and kept on disk where :func:`use_states_cache` says."""
    stores = _STORES.setdefault(agent, {})
    key = (states, int(seed), bool(greedy), _CACHE_ROOT)
    if key not in stores:
        cache = None if _CACHE_ROOT is None else EpisodeCache.for_store(
            _CACHE_ROOT, agent, states, seed=int(seed), greedy=greedy, max_episode_steps=EPISODE_STEP_LIMIT)
        stores[key] = EpisodeStore(agent, states, seed=np.random.SeedSequence(int(seed)), greedy=greedy,
                                   cache=cache)
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
