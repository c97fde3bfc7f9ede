"""The Toybox environments: gymnasium compliance, preprocessing, exact snapshots, seeding."""

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from cfsal.envs import GAMES, EnvSnapshot, ToyboxEnv, get_game, make
from cfsal.errors import SnapshotError, UnknownGameError


def play(env: ToyboxEnv, actions) -> tuple[list[np.ndarray], list[float], list[dict]]:
    observations, rewards, infos = [], [], []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(int(action))
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return observations, rewards, infos


@pytest.mark.parametrize("game", list(GAMES))
def test_every_game_passes_gymnasium_check_env(game):
    env = make(game)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (4, 84, 84)
    assert env.action_space.n == len(GAMES[game].action_set)


@pytest.mark.parametrize("env_id", ["cfsal/Breakout-v0", "BreakoutToyboxNoFrameskip-v4",
                                    "AmidarToyboxNoFrameskip-v4", "cfsal/SpaceInvaders-v0", "cfsal/Pong-v0"])
def test_registered_ids_make_the_right_game(env_id):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.unwrapped.game == get_game(env_id).name


def test_unknown_game_names_the_valid_ones():
    with pytest.raises(UnknownGameError, match="breakout, amidar, space_invaders, pong"):
        make("chess")


@pytest.mark.parametrize("game", list(GAMES))
def test_snapshot_restore_replays_bit_identically(game):
    env = make(game, seed=7)
    rng = np.random.default_rng(0)
    play(env, rng.integers(0, env.action_space.n, 40))
    snapshot = env.snapshot()
    actions = rng.integers(0, env.action_space.n, 60)
    first = play(env, actions)
    env.restore(snapshot)
    second = play(env, actions)
    assert len(first[0]) == len(second[0])
    for a, b in zip(first[0], second[0]):
        np.testing.assert_array_equal(a, b)
    assert first[1] == second[1]
    assert first[2] == second[2]


@pytest.mark.parametrize("game", ["breakout", "pong"])
def test_snapshot_survives_json_into_a_fresh_environment(game):
    env = make(game, seed=3)
    play(env, [1, 2, 3, 0] * 10)
    snapshot = EnvSnapshot.from_dict(json.loads(json.dumps(env.snapshot().to_dict())))
    expected = play(env, [2, 3] * 20)
    fresh = make(game)
    fresh.restore(snapshot)
    replayed = play(fresh, [2, 3] * 20)
    for a, b in zip(expected[0], replayed[0]):
        np.testing.assert_array_equal(a, b)
    assert expected[1] == replayed[1]


def test_restoring_another_games_snapshot_is_refused():
    snapshot = make("breakout", seed=0).snapshot()
    with pytest.raises(SnapshotError, match="restore it into cfsal.envs.make\\('breakout'\\)"):
        make("amidar").restore(snapshot)


def test_same_seed_same_episode_different_seed_different_episode():
    actions = np.random.default_rng(1).integers(0, 4, 150)
    runs = {}
    for seed in (11, 11, 12):
        env = make("breakout")
        obs, _ = env.reset(seed=seed)
        runs.setdefault(seed, []).append([obs, *play(env, actions)[0]])
    same_a, same_b = runs[11]
    assert all(np.array_equal(a, b) for a, b in zip(same_a, same_b))
    assert not all(np.array_equal(a, b) for a, b in zip(same_a, runs[12][0]))


def test_seeds_vary_the_toybox_rng_and_noop_count():
    states = [make("amidar", seed=s).get_toybox_state() for s in range(6)]
    assert len({json.dumps(s["rand"]) for s in states}) == 6


def test_breakout_serves_the_ball_on_reset():
    env = make("breakout", seed=0)
    assert env.get_toybox_state()["balls"], "FIRE on reset should put a ball in play"


def test_observation_is_max_of_last_two_frames_resized():
    env = make("breakout", seed=0, frame_skip=4)
    obs, *_ = env.step(0)
    assert obs.dtype == np.uint8 and obs.shape == (4, 84, 84)
    np.testing.assert_array_equal(obs[:-1], env.observation[:-1])
    assert obs[-1].max() > 0


def test_episodic_life_ends_a_training_episode_at_a_lost_life_but_not_the_game():
    env = make("breakout", seed=0, episodic_life=True, clip_rewards=True)
    start_lives = env.lives
    for _ in range(5000):
        _, reward, terminated, truncated, info = env.step(0)
        assert reward in (-1.0, 0.0, 1.0)
        if terminated:
            break
    assert info["life_lost"] and not info["game_over"]
    env.reset()
    assert env.lives == start_lives - 1


def test_truncation_after_max_episode_steps():
    env = make("breakout", seed=0, max_episode_steps=5)
    flags = [env.step(0)[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]


def test_rgb_frame_and_raw_state_are_available():
    env = make("breakout", seed=0, render_mode="rgb_array")
    assert env.render().shape == (160, 240, 3)
    assert "paddle" in env.get_toybox_state()


def test_bad_action_is_rejected_with_the_valid_range():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        make("breakout", seed=0).step(7)


def _long_play(env, steps=300):
    rng = np.random.default_rng(0)
    return play(env, rng.integers(0, env.action_space.n, steps))


@pytest.mark.parametrize("how", ["native", "recipe"])
def test_restore_is_exact_even_where_toybox_json_is_not(how):
    """Toybox's JSON reader moves floats by an ulp; the native clone and the recipe do not."""
    env = make("breakout", seed=21)
    _long_play(env, 200)
    snapshot = env.snapshot()
    if how == "recipe":
        snapshot = EnvSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))
        assert snapshot.native is None and snapshot.has_recipe
    original_state = env.get_toybox_state()
    expected = _long_play(env)
    fresh = make("breakout")
    fresh.restore(snapshot)
    assert fresh.get_toybox_state() == original_state
    replayed = _long_play(fresh)
    assert all(np.array_equal(a, b) for a, b in zip(expected[0], replayed[0])) and expected[1] == replayed[1]


def test_snapshots_pickle_without_the_native_handle():
    import pickle

    snapshot = make("amidar", seed=2).snapshot()
    copy = pickle.loads(pickle.dumps(snapshot))
    assert copy.native is None and copy.has_recipe and snapshot.native is not None


def test_a_recipe_from_other_settings_is_refused():
    env = make("breakout", seed=5, frame_skip=3)
    _long_play(env, 20)
    snapshot = EnvSnapshot.from_dict(env.snapshot().to_dict())
    with pytest.raises(SnapshotError, match="other settings"):
        make("breakout", frame_skip=4).restore(snapshot)


@pytest.mark.parametrize("game, key, value", [("breakout", "start_lives", 2), ("pong", "game_points", 3),
                                              ("space_invaders", "start_lives", 2)])
def test_configured_games_snapshot_and_restore_with_their_config(game, key, value):
    env = make(game)
    config = env.config
    config[key] = value
    env.configure(config)
    env.reset(seed=3)
    _long_play(env, 30)
    snapshot = env.snapshot()
    expected = _long_play(env, 50)
    for restored in (snapshot, EnvSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))):
        fresh = make(game)
        fresh.restore(restored)
        assert fresh.config[key] == value
        replayed = _long_play(fresh, 50)
        assert all(np.array_equal(a, b) for a, b in zip(expected[0], replayed[0]))
    fresh.configure(None)
    assert fresh.config[key] != value


def _edge_parameters(spec) -> list[dict]:
    """One parameter of a config intervention at each end of its range (colours: black and white)."""
    if spec.kind in ("int", "float"):
        cast = int if spec.kind == "int" else float
        return [{spec.name: cast(v)} for v in (spec.low, spec.high) if v is not None]
    if spec.kind == "int_tuple":
        return [{spec.name: ()}, {spec.name: (int(spec.low),) * 6}, {spec.name: (int(spec.high),) * 6}]
    if spec.kind == "color":
        return [{spec.name: (0, 0, 0)}, {spec.name: (255, 255, 255)}]
    if spec.kind == "bool":
        return [{spec.name: True}, {spec.name: False}]
    return []


@pytest.mark.parametrize("game", list(GAMES))
def test_every_config_intervention_at_the_edges_of_its_ranges_passes_check_config(game):
    """check_config's limits (cfsal.envs.games.CONFIG_LIMITS) must never refuse what a config
    intervention may produce: each parameter at its lowest and highest, and all at once."""
    from cfsal.envs.validation import check_config
    from cfsal.interventions import from_spec, registry, strategies

    env = make(game, seed=0)
    tried = 0
    for name in strategies.names(game, kind="config"):
        specs = registry[name].params()
        edges = [edge for spec in specs for edge in _edge_parameters(spec)]
        for low_or_high in (0, 1):  # every parameter at once at its low end, then at its high end
            together = {}
            for spec in specs:
                options = _edge_parameters(spec)
                if options:
                    together.update(options[min(low_or_high, len(options) - 1)])
            edges.append(together)
        for params in edges:
            config = from_spec({"name": name, **params}).apply_config(env.config)
            check_config(game, config, where=f"{name}({params})")
            tried += 1
    assert tried >= 6


def _extreme_configs(game: str) -> list[dict]:
    """Each config intervention of ``game`` with every parameter at its high end (speeds, sizes)."""
    from cfsal.interventions import from_spec, registry, strategies

    env = make(game, seed=0)
    configs = [env.config]
    for name in strategies.names(game, kind="config"):
        params = {}
        for spec in registry[name].params():
            options = _edge_parameters(spec)
            if options:
                params.update(options[-1])
        configs.append(from_spec({"name": name, **params}).apply_config(env.config))
    return configs


@pytest.mark.parametrize("game", list(GAMES))
def test_states_the_core_plays_into_pass_check_state(game):
    """check_state guards snapshots and edits: it must never refuse a state the game reaches by
    itself — with its default config or a config intervention at its extremes — under actions that
    hold one direction for a while (Pong's paddles overshoot the screen by 250 px doing that)."""
    from cfsal.envs.validation import check_state

    rng = np.random.default_rng(0)
    for config in _extreme_configs(game):
        env = make(game, seed=0)
        env.configure(config)
        env.reset(seed=0)
        n = env.action_space.n
        for step in range(100 * n + 200):  # each action held for 100 steps, then random ones
            action = step // 100 if step < 100 * n else int(rng.integers(n))
            _, _, terminated, truncated, _ = env.step(action)
            check_state(game, env.get_toybox_state(), where=f"{game} step {step}")
            if terminated or truncated:
                env.reset(seed=step)
