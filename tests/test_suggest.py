"""cfsal suggest: object attribution, enrichment, block bootstrap, cache, claims, generated files.

The fake agent watches only the paddle's rows of the screen (a dependence known by construction),
so its audit must rank the paddle first, and the files written from it must run and be right.
"""

import ast
import json

import numpy as np
import pytest
import torch

from cfsal.agents.base import Agent, AgentSpec
from cfsal.envs import make
from cfsal.envs.objects import ObjectBox, objects, select
from cfsal.suggest import Audit, plan_claims, run_audit, suggest
from cfsal.suggest.audit import (
    attribute,
    block_ids,
    block_weights,
    choose_block,
    enrichment,
    shares,
    weighted_pearson,
)
from cfsal.suggest.claims import effect_samples, no_effect_samples, sd_upper_limit
from cfsal.suggest.render import render_file


class PaddleWatcher(Agent):
    """Breakout agent whose logits depend only on observation rows 72–79 (where the paddle is drawn),
    weighted by column: it steers by where the paddle is, and sees nothing else."""

    def __init__(self, scale: float = 500.0) -> None:
        super().__init__(AgentSpec.for_game("breakout"), name="paddle-watcher")
        weights = torch.zeros(84, 84)
        weights[72:80, :] = torch.linspace(-1.0, 1.0, 84)
        self.register_buffer("weights", weights)
        self.scale = scale

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = (obs[:, -1] * self.weights).sum(dim=(1, 2)) / self.scale
        zero = torch.zeros_like(s)
        return torch.stack([zero, zero, s, -s], dim=1), s  # NOOP, FIRE, RIGHT, LEFT


def _box(name: str, x0: int, y0: int, x1: int, y1: int) -> ObjectBox:
    return ObjectBox(name, name, x0, y0, x1, y1, (160, 240))


# -- attribution and statistics (pure) -----------------------------------------------------------
def test_the_audit_reads_real_atari_objects_and_the_scores_they_show():
    from cfsal.envs import ale_pong_ram
    from cfsal.envs.displayed import displayed_value
    from cfsal.errors import CfsalError
    from cfsal.suggest.catalog import audit_objects, frame_variables

    env = make("ale_pong", seed=1)
    states = []
    for t in range(80):
        env.step(t % 6)
        states.append(env.get_toybox_state())
    states[-1]["ram"][ale_pong_ram.PLAYER_SCORE] = 7
    boxes = [objects("ale_pong", state) for state in states]
    variables = frame_variables("ale_pong", boxes[1:], boxes[:-1], states[1:])
    names = [o.name for o in audit_objects("ale_pong")]
    assert variables["value"][-1, names.index("score")] == 7 == displayed_value("ale_pong", "score", states[-1])
    assert np.isfinite(variables["distance"][-1, names.index("opponent_paddle")])  # to the agent's paddle
    with pytest.raises(CfsalError, match="score, opponent_score"):
        displayed_value("ale_pong", "ball", states[-1])


ATARI_GAMES = ("ale_breakout", "ale_freeway", "ale_boxing", "ale_space_invaders")


@pytest.mark.parametrize("game", ATARI_GAMES)
def test_the_audit_reads_every_atari_games_objects_and_the_numbers_they_show(game):
    """Each audited object of a real Atari game is on screen in play, objects away from the player
    have a distance to it, and every HUD number the audit correlates with is the one the game's own
    edit wrote (BCD scores, Boxing's clock in seconds) — read back as a hypothesis file reads it."""
    from cfsal.envs.displayed import displayed_value, shows_value
    from cfsal.interventions import targets_for
    from cfsal.suggest.catalog import PLAYER, audit_objects, frame_variables

    env = make(game, seed=1)
    rng = np.random.default_rng(1)
    states = []
    for t in range(120):
        env.step(1 if t % 20 == 0 else int(rng.integers(env.action_space.n)))  # FIRE now and then: a ball
        states.append(env.get_toybox_state())
    boxes = [objects(game, state) for state in states]
    names = [o.name for o in audit_objects(game)]
    seen = {name for frame in boxes for name in names if select(frame, name)}
    assert seen == set(names) - {"ufo"}  # the UFO flies now and then only
    variables = frame_variables(game, boxes[1:], boxes[:-1], states[1:])
    player = names.index(PLAYER[game])
    assert np.isnan(variables["distance"][:, player]).all()
    away = [o for o, obj in enumerate(audit_objects(game)) if obj.name in seen - {PLAYER[game]} and not obj.group]
    assert np.isfinite(variables["distance"][:, away]).any(axis=0).all()
    shown = [name for name in names if shows_value(game, name)]
    assert shown and set(shown) <= {"score", "opponent_score", "enemy_score", "lives", "clock"}
    for name in shown:
        for target in targets_for(game, name, changes="value"):
            (wanted,) = (v for k, v in target.params.items())
            edited = target.build().apply(states[-1])
            assert displayed_value(game, name, edited) == wanted != displayed_value(game, name, states[-1])


def test_atari_hud_numbers_read_as_the_screen_shows_them():
    from cfsal.envs.displayed import displayed_value

    assert displayed_value("ale_breakout", "lives", make("ale_breakout", seed=0).get_toybox_state()) == 5
    assert displayed_value("ale_boxing", "clock", make("ale_boxing", seed=0).get_toybox_state()) == 119  # 1:59
    freeway = make("ale_freeway", seed=0).get_toybox_state()
    freeway["ram"][104] = 0x12  # BCD, as the game keeps it
    assert displayed_value("ale_freeway", "opponent_score", freeway) == 12


def test_object_attribution_sums_to_the_maps_total_mass():
    rng = np.random.default_rng(0)
    maps = rng.random((6, 84, 84))
    frames = [{"ball": _box("ball", 100, 80, 104, 84), "paddle": _box("paddle", 90, 143, 114, 146),
               "score": _box("score", 52, 1, 124, 13)} for _ in range(6)]
    mass, area, rest, total = attribute(maps, frames, ["ball", "paddle", "score"])
    np.testing.assert_allclose(mass.sum(axis=1) + rest, total, rtol=1e-12)
    np.testing.assert_allclose(total, maps.sum(axis=(1, 2)))
    assert np.all(mass > 0) and np.all(rest > 0)
    np.testing.assert_allclose(area[0], [16 / 38400, 72 / 38400, 864 / 38400], rtol=0.35)  # box-resize rounding


def test_attribution_on_a_real_breakout_frame_adds_up():
    env = make("breakout", seed=1)
    for _ in range(30):
        env.step(0)
    boxes = objects("breakout", env.get_toybox_state())
    maps = np.random.default_rng(1).random((1, 84, 84))
    regions = ["ball", "paddle", "brick", "score", "lives"]
    mass, _, rest, total = attribute(maps, [boxes], regions)
    present = np.isfinite(mass[0])
    assert present[[1, 2, 3, 4]].all()  # paddle, bricks, score and lives are drawn
    np.testing.assert_allclose(np.nansum(mass[0]) + rest[0], total[0], rtol=1e-9)


def test_absent_objects_are_nan_and_zero_maps_have_zero_shares():
    frames = [{"paddle": _box("paddle", 90, 143, 114, 146)}] * 2
    mass, area, _, total = attribute(np.zeros((2, 84, 84)), frames, ["ball", "paddle"])
    share = shares(mass, total)
    assert np.isnan(share[:, 0]).all() and np.isnan(area[:, 0]).all()
    assert (share[:, 1] == 0).all()


def test_enrichment_of_a_planted_object_is_one_over_its_screen_share():
    box = _box("ball", 100, 80, 112, 92)
    weights = box.obs_weights()
    maps = np.stack([weights * (1 + i) for i in range(12)])
    mass, area, _, total = attribute(maps, [{"ball": box}] * 12, ["ball"])
    share = shares(mass, total)
    boot = block_weights(np.repeat([0, 1], 6), 2, 500, np.random.default_rng(0))
    estimate, low, high = enrichment(share[:, 0], area[:, 0], boot)
    expected = (weights ** 2).sum() / weights.sum() / (weights.sum() / 84 ** 2)
    assert estimate == pytest.approx(expected, rel=1e-9)
    assert low <= estimate <= high


def test_blocks_never_cross_episodes_and_the_bootstrap_keeps_the_block_count():
    episodes = np.array([0] * 7 + [1] * 5)
    ids = block_ids(episodes, 3)
    assert ids.tolist() == [0, 0, 0, 1, 1, 1, 2, 3, 3, 3, 4, 4]
    weights = block_weights(episodes, 3, 50, np.random.default_rng(0))
    assert weights.shape == (50, 12)
    per_block = np.stack([weights[:, ids == b][:, 0] for b in range(5)], axis=1)
    assert (per_block.sum(axis=1) == 5).all()  # 5 blocks drawn per resample


def test_block_length_grows_with_autocorrelation():
    rng = np.random.default_rng(0)
    episodes = np.repeat([0, 1], 200)
    assert choose_block(episodes, rng.random(400)) == 1
    smooth = np.concatenate([np.cumsum(rng.normal(size=200)) for _ in range(2)])
    assert choose_block(episodes, smooth) > 3


def test_weighted_pearson_with_unit_weights_is_pearson():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert weighted_pearson(x, y, np.ones((1, 50)))[0] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert np.isnan(weighted_pearson(np.ones(50), y, np.ones((1, 50)))[0])


def test_sample_sizes_follow_the_documented_formulas():
    assert sd_upper_limit(np.array([1.0, 1.0, 1.0])) == 0.0
    assert sd_upper_limit(np.array([0.0, 1.0] * 4)) > np.std([0.0, 1.0] * 4, ddof=1)
    # ((z_{1-0.0125/2} + z_0.8) · 0.3 / (0.15 − 0.05))² = (2.498 + 0.842)² · 9 ≈ 100.4 → 101
    assert effect_samples(0.3, 0.0125) == 101
    assert effect_samples(0.0, 0.0125) == 20          # the floor
    assert no_effect_samples(0.0, 0.05) >= 60         # exact zeros the bounded test needs


# -- the audit on a known agent -------------------------------------------------------------
@pytest.fixture(scope="module")
def watcher_audit(tmp_path_factory):
    torch.set_num_threads(1)
    cache = tmp_path_factory.mktemp("cache")
    audit = run_audit(PaddleWatcher(), episodes=2, max_steps=90, every=6, cache=cache, resamples=300)
    return audit, cache


def test_the_audit_ranks_first_what_the_agent_watches(watcher_audit):
    audit, _ = watcher_audit
    result = audit.methods["perturbation"]
    assert result.objects[0].name == "paddle" and result.objects[0].label == "salient"
    assert result.finding("score").label == "low" and result.finding("brick").label == "low"
    assert audit.frames == sum(e.mapped for e in audit.episodes) == result.frames


def test_the_audit_round_trips_through_json(watcher_audit, tmp_path):
    audit, _ = watcher_audit
    again = Audit.load(audit.save(tmp_path / "audit.json"))
    assert again.to_dict() == json.loads(json.dumps(audit.to_dict()))


def test_later_audits_reuse_cached_maps_and_a_changed_agent_does_not(watcher_audit, monkeypatch):
    audit, cache = watcher_audit
    import cfsal.suggest.episodes as episodes

    calls = []
    real = episodes.saliency
    monkeypatch.setattr(episodes, "saliency", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = run_audit(PaddleWatcher(), episodes=2, max_steps=90, every=6, cache=cache, resamples=300)
    assert calls == []
    assert again.to_dict() == audit.to_dict()  # same seed, same maps, same numbers
    retrained = PaddleWatcher()
    retrained.weights *= 1.25
    run_audit(retrained, episodes=1, max_steps=90, every=6, cache=cache, resamples=300)
    assert calls  # new weights → new sha256 → maps recomputed


def test_claims_follow_the_audit(watcher_audit):
    audit, _ = watcher_audit
    plans = plan_claims(audit)
    kinds = {(p.object, p.kind) for p in plans}
    assert ("paddle", "effect") in kinds and ("score", "no_effect") in kinds and ("brick", "no_effect") in kinds
    assert not any(p.kind == "effect" and p.object != "paddle" for p in plans if p.object != "ball")
    everything = plan_claims(audit, mode="all")
    assert {p.object for p in everything if p.kind == "effect"} == {"ball", "paddle", "brick", "score", "lives"}


def test_a_rendered_file_parses_and_uses_only_the_public_api(watcher_audit):
    audit, _ = watcher_audit
    from dataclasses import replace

    plans = [replace(p, samples=30, sizing={"claims": 2, "alpha": 0.025, "pilot_n": 4, "pilot_seed": 1,
                                            "pilot_mean": 0.2, "pilot_sd": 0.1, "pilot_sd_upper": 0.15,
                                            "effect_of_interest": 0.15}) for p in plan_claims(audit)
             if p.object == "paddle"]
    source = render_file(audit, "paddle", plans)
    tree = ast.parse(source)
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert imported <= {"cfsal", "cfsal.interventions", "json", "math", "cfsal.envs.objects"}
    assert "enrichment" in ast.get_docstring(tree) and "episode 0" in ast.get_docstring(tree)
    assert "breakout.MovePaddle(dx=40)" in source and "def test_the_agent_uses_the_paddle" in source


# -- the whole command, files run with pytest ------------------------------------------------
CONFTEST = '''
import pytest, torch
from test_support import PaddleWatcher

@pytest.fixture
def agent():
    return PaddleWatcher()
'''


@pytest.mark.slow
def test_suggested_files_run_unedited_and_find_what_the_agent_watches(pytester, tmp_path):
    torch.set_num_threads(1)
    out = pytester.path / "suggested"
    audit = suggest(PaddleWatcher(), out, episodes=2, max_steps=90, every=6, pilot=4, cache=tmp_path)
    assert (out / "audit.json").is_file() and audit.claims
    source = (__import__("inspect").getsource(PaddleWatcher))
    pytester.makepyfile(test_support="import torch\nfrom cfsal.agents.base import Agent, AgentSpec\n\n" + source)
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "suggested", "--cfsal-json", "out.json",
                                           "--cfsal-html", "off")
    records = {r["nodeid"].split("::")[-1]: r for r in json.loads((pytester.path / "out.json").read_text())["hypotheses"]}
    outcome = {name: (r.get("adjusted_verdict") or r["verdict"])["outcome"] for name, r in records.items()}
    assert outcome["test_the_agent_uses_the_paddle"] == "SUPPORTED", result.stdout.str()
    assert outcome["test_the_agent_ignores_the_score"] == "SUPPORTED"
    assert outcome["test_the_agent_ignores_the_brick"] == "SUPPORTED"


@pytest.fixture(scope="module")
def atari_suggestion(tmp_path_factory):
    """``cfsal suggest`` on real Atari Breakout as a user runs it, on an untrained network's checkpoint
    (the zoo has no trained agent for it): one 60-step episode mapped every 10th step, 2-pair pilots."""
    import contextlib
    import io

    from cfsal.agents import save_checkpoint
    from cfsal.cli import main
    from cfsal.testing import tiny_agent

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("atari")
    checkpoint = save_checkpoint(tiny_agent("ale_breakout", name="tiny-breakout"), folder / "tiny.safetensors")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["suggest", str(checkpoint), "--episodes", "1", "--max-steps", "60", "--every", "10", "--pilot",
                     "2", "--claims", "all", "--out", str(folder / "out"), "--cache", str(folder / "cache"),
                     "--no-progress"])
    return code, printed.getvalue(), folder / "out"


def test_cfsal_suggest_writes_the_tests_of_a_real_atari_game(atari_suggestion):
    code, printed, out = atari_suggestion
    assert code == 0
    audit = Audit.load(out / "audit.json")
    assert audit.game == "ale_breakout" and audit.frames == 5
    assert {o.name for o in audit.methods["perturbation"].objects} == {"ball", "paddle", "brick", "score", "lives"}
    claims = {c["object"]: c for c in audit.claims}
    assert set(claims) == {"ball", "paddle", "brick", "score"}
    assert "no claims about lives" in printed and "no intervention changes it" in printed  # said, not dropped
    # The game draws new score digits a frame late: settled, the agent sees them (pilot TV > 0; unsettled it
    # would be exactly 0, both arms seeing the same frame), and the file settles as the pilot did.
    assert claims["score"]["settle"] == 1 and claims["score"]["sizing"]["pilot_mean"] > 0
    assert claims["ball"]["settle"] is None
    score = (out / claims["score"]["file"]).read_text()
    assert "CHANGE = ale_breakout.SetScore(value=500)" in score and "settle=1, measure=" in score
    for name in {c["file"] for c in audit.claims}:
        source = (out / name).read_text()
        compile(source, name, "exec")
        assert "from cfsal.interventions import ale_breakout" in source


@pytest.mark.slow
def test_the_files_suggested_on_a_real_atari_game_run_unedited(atari_suggestion, pytester):
    _, _, out = atari_suggestion
    for path in out.glob("test_*.py"):
        pytester.makepyfile(**{path.stem: path.read_text()})
    pytester.makeconftest("import pytest\nfrom cfsal.testing import tiny_agent\n\n@pytest.fixture\ndef agent():\n"
                          "    return tiny_agent('ale_breakout', name='tiny-breakout')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "4", "--cfsal-json",
                                           "out.json", "--cfsal-html", "off")
    records = json.loads((pytester.path / "out.json").read_text())["hypotheses"]
    assert len(records) == 4, result.stdout.str()
    assert all(r["status"] in ("SUPPORTED", "REFUTED", "INCONCLUSIVE") for r in records), result.stdout.str()


def test_a_speed_correlation_is_measured_after_the_new_motion_shows():
    """A velocity edit leaves the current frame unchanged, so saliency right after it is identical
    in both arms (Δsaliency ≡ 0, the correlation undefined: seen on the shipped expert). The claim
    lets both arms play SPEED_SETTLE frames first; a distance claim measures right away."""
    from cfsal.suggest.claims import SPEED_SETTLE, _correlation_plan

    speed = _correlation_plan("breakout", "ball", "perturbation", "speed", -0.3)
    distance = _correlation_plan("breakout", "ball", "perturbation", "distance", -0.3)
    assert speed.settle == SPEED_SETTLE >= 1 and speed.to_dict()["settle"] == SPEED_SETTLE
    assert distance.settle is None
