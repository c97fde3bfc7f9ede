"""Real Atari games through the ALE: gymnasium compliance, the DeepMind pipeline, seeding, exact
snapshots, and `cfsal train` on them (resumable, kill-safe)."""

import csv
import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from cfsal.agents import load_checkpoint
from cfsal.agents.base import AgentSpec
from cfsal.agents.evaluation import evaluate
from cfsal.agents.networks import NatureActorCritic
from cfsal.agents.training import A2CSettings, train_a2c, training_dir
from cfsal.envs import ALE_GAMES, GAMES, GameSpec, get_game, make, preprocess_frame
from cfsal.envs.ale_env import AleEnv, AleSnapshot
from cfsal.errors import SnapshotError, UnknownGameError

SMALL = A2CSettings(n_envs=2)
#: Breakout gives the lives/FIRE paths a game that has them (Pong has neither).
BREAKOUT = ALE_GAMES["ale_breakout"]


def play(env, actions):
    observations, rewards, infos = [], [], []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(int(action))
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, rewards, infos


@pytest.mark.parametrize("game", list(ALE_GAMES))
def test_every_ale_game_passes_gymnasium_check_env(game):
    env = make(game)
    assert isinstance(env, AleEnv)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert env.action_space.n == len(ALE_GAMES[game].action_set)


def test_names_resolve_without_clashing_with_toybox():
    assert get_game("ale_pong").backend == "ale"
    for name in ("ale-pong", "ALE_Pong", "cfsal/ALE-Pong-v0", "PongNoFrameskip-v4"):
        assert get_game(name).name == "ale_pong"
    for name in ("pong", "Pong", "cfsal/Pong-v0", "PongToyboxNoFrameskip-v4"):
        assert get_game(name).name == "pong" and get_game(name).backend == "toybox"
    assert not set(ALE_GAMES) & set(GAMES)
    with pytest.raises(UnknownGameError, match="breakout, amidar, space_invaders, pong.*ale_pong"):
        make("chess")


def test_registered_id_makes_the_ale_game():
    env = gym.make("cfsal/ALE-Pong-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.unwrapped.game == "ale_pong"


def test_observations_fit_the_toybox_agents_network():
    env = make("ale_pong", seed=0)
    agent = NatureActorCritic(AgentSpec.for_game("ale_pong"))
    assert agent.spec.action_set == (0, 1, 3, 4, 11, 12) and agent.spec.observation.shape == (4, 84, 84)
    logits, value = agent.logits_and_value(env.observation)
    assert logits.shape == (1, 6) and value.shape == (1,)
    obs, *_ = env.step(int(agent.act(env.observation, rng=np.random.default_rng(0))[0]))
    assert (obs[-1] > 0).any() and np.array_equal(obs[:-1], env.snapshot().frame_stack[:-1])


def test_a_frame_is_the_max_of_the_last_two_screens_of_the_skip():
    env = make("ale_pong", seed=3)
    play(env, [3] * 40)
    before = env.snapshot()
    screens = []
    for _ in range(4):
        env.ale.act(env._raw_actions[4])
        screens.append(env.ale.getScreenGrayscale().copy())
    expected = preprocess_frame(np.maximum(screens[2], screens[3]))
    assert not np.array_equal(screens[2], screens[3]), "a moving frame, so the max is tested"
    env.restore(before)
    obs, *_ = env.step(4)
    assert np.array_equal(obs[-1], expected)
    assert np.array_equal(obs[:-1], before.frame_stack[1:])


@pytest.mark.parametrize("game", list(ALE_GAMES))
def test_same_seed_same_episode_other_seed_other_start(game):
    rng = np.random.default_rng(0)
    actions = rng.integers(0, ALE_GAMES[game].n_actions, size=300)
    first = play(make(game, seed=11), actions)
    again = play(make(game, seed=11), actions)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0])) and first[1] == again[1]
    episodes = {b"".join(o.tobytes() for o in play(make(game, seed=seed), actions[:100])[0]) for seed in range(4)}
    assert len(episodes) > 1, "seeds vary the no-op start (Pong's first frames are still: the game shows it later)"


def test_reset_without_seed_continues_the_rng_reproducibly():
    def two_episodes():
        env = make("ale_pong", seed=5, noop_max=30)
        first = env.observation
        env.reset()
        return first, env.observation

    assert all(np.array_equal(a, b) for a, b in zip(two_episodes(), two_episodes()))


@pytest.mark.parametrize("sticky", [0.0, 0.25])
@pytest.mark.parametrize("game", list(ALE_GAMES))
def test_snapshot_restore_replays_bit_identically(game, sticky):
    env = make(game, seed=7, repeat_action_probability=sticky)
    rng = np.random.default_rng(1)
    play(env, rng.integers(0, env.action_space.n, size=120))
    snap = env.snapshot()
    tail = rng.integers(0, env.action_space.n, size=200)
    original = play(env, tail)
    assert env.restore(snap).tobytes() == snap.frame_stack.tobytes()
    replay = play(env, tail)
    assert all(np.array_equal(a, b) for a, b in zip(original[0], replay[0]))
    assert original[1] == replay[1] and original[2] == replay[2]
    # elsewhere: a fresh environment, through pickle and through JSON
    for copy in (pickle.loads(pickle.dumps(snap)), AleSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))):
        other = make(game, repeat_action_probability=sticky)
        other.restore(copy)
        elsewhere = play(other, tail)
        assert all(np.array_equal(a, b) for a, b in zip(original[0], elsewhere[0]))
        assert original[1] == elsewhere[1] and original[2] == elsewhere[2]


def test_restore_refuses_snapshots_it_cannot_replay():
    snap = make("ale_pong", seed=0).snapshot()
    with pytest.raises(SnapshotError, match="repeat_action_probability"):
        make("ale_pong", repeat_action_probability=0.25).restore(snap)
    with pytest.raises(SnapshotError, match="frame stack"):
        make("ale_pong", frame_stack=2).restore(snap)
    with pytest.raises(SnapshotError, match="not an ALE snapshot"):
        make("ale_pong").restore(make("breakout", seed=0).snapshot())
    with pytest.raises(SnapshotError, match="schema version"):
        AleSnapshot.from_dict({**snap.to_dict(), "schema_version": 99})


def test_a_table_entry_is_all_a_game_needs_episodic_life_and_fire():
    full = AleEnv(BREAKOUT)
    full.reset(seed=0)
    assert full.lives == 5
    lost = [info for *_, info in (full.step(0) for _ in range(400)) if info["life_lost"]]
    assert lost and not lost[0]["game_over"], "a lost life is not the end of the game"

    env = AleEnv(BREAKOUT, episodic_life=True, clip_rewards=True)
    env.reset(seed=0)
    for _ in range(400):
        *_, terminated, _truncated, info = env.step(0)
        if terminated:
            break
    assert terminated and info["life_lost"] and not info["game_over"]
    env.reset()
    assert env.lives == info["lives"] == 4, "the next training episode continues the same game"


def test_a_wrong_action_set_in_the_table_is_refused():
    wrong = GameSpec("ale_breakout", "x", (), (0, 1, 2, 3), True, "Breakout", backend="ale", rom="breakout")
    with pytest.raises(ValueError, match="minimal"):
        AleEnv(wrong)
    with pytest.raises(ValueError, match="not an ALE game"):
        AleEnv("pong")


def test_train_resume_and_evaluate_on_ale_pong(tmp_path):
    out = tmp_path / "p.safetensors"
    result = train_a2c("ale-pong", 300, out, settings=SMALL, checkpoint_every=100, progress=False, command="test")
    assert result.steps >= 300
    agent = load_checkpoint(out, game="ale_pong")
    assert agent.spec.game == "ale_pong" and agent.provenance["steps"] == result.steps
    rows = list(csv.DictReader((training_dir(out) / "curve.csv").open()))
    assert len(rows) >= 3 and [int(r["steps"]) for r in rows] == sorted(int(r["steps"]) for r in rows)
    result = train_a2c("ale_pong", 400, out, settings=SMALL, checkpoint_every=10**9, progress=False)
    run = json.loads((training_dir(out) / "run.json").read_text())
    assert 400 <= result.steps < 420 and run["steps_done"] == result.steps and run["game"] == "ale_pong"
    scores = evaluate(load_checkpoint(out), episodes=1, max_steps=50)
    assert scores.game == "ale_pong" and scores.lengths == (50,)


def test_wall_time_checkpoints_and_a_cut_curve_line_is_dropped(tmp_path):
    out = tmp_path / "p.safetensors"
    train_a2c("ale_pong", 40, out, settings=SMALL, checkpoint_every=10**9, checkpoint_minutes=0.0, progress=False)
    curve = training_dir(out) / "curve.csv"
    assert len(list(csv.DictReader(curve.open()))) >= 4, "a checkpoint at every step when the time is up"
    curve.write_bytes(curve.read_bytes() + b"123,4")  # a write killed half-way
    train_a2c("ale_pong", 60, out, settings=SMALL, checkpoint_every=10**9, progress=False)
    rows = list(csv.reader(curve.open()))
    assert all(len(row) == 4 for row in rows) and rows[-1][0] == "60"


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_resumable_run(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "p.safetensors"
    process = subprocess.Popen([sys.executable, "-m", "cfsal.cli", "train", "--game", "ale_pong", "--steps", "1e6",
                                "--out", str(out), "--n-envs", "2", "--checkpoint-every", "20", "--no-progress"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_file = training_dir(out) / "run.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run_file.exists() and json.loads(run_file.read_text())["steps_done"] >= 60):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # no cleanup: mid-save, perhaps
    process.wait(timeout=30)
    done = json.loads(run_file.read_text())["steps_done"]
    result = train_a2c("ale_pong", done + 100, out, settings=SMALL, checkpoint_every=10**9, progress=False)
    assert result.steps >= done + 100
    assert load_checkpoint(out).provenance["steps"] == result.steps
    rows = list(csv.reader((training_dir(out) / "curve.csv").open()))
    assert all(len(row) == 4 for row in rows[1:])


def test_seeded_reset_is_the_same_game_on_a_used_or_reused_emulator():
    """Without sticky actions a seeded reset puts the emulator back to the freshly loaded cartridge
    instead of reloading it, and new environments reuse collected ones' emulators: neither may show."""
    import gc

    from cfsal.envs import ale_env

    def game(env, seed=5):
        env.reset(seed=seed)
        seen = []
        for t in range(300):
            obs, reward, *_ = env.step((t * 7) % 6)
            seen.append((obs.tobytes(), reward, env.ale.getRAM().tobytes()))
        return seen

    fresh = game(make("ale_pong"))
    used = make("ale_pong")
    game(used, seed=9)
    assert game(used) == fresh
    del used
    gc.collect()
    assert ale_env._SPARE  # the collected environment's emulator is spare now
    assert game(make("ale_pong")) == fresh
