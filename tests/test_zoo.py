"""The zoo: every shipped agent loads, acts, reproduces its card; tampering is caught."""


import numpy as np
import pytest

from cfsal.agents import save_checkpoint
from cfsal.agents.evaluation import evaluate
from cfsal.agents.zoo import ModelCard, cards, load_agent, load_from_zoo, sha256_of
from cfsal.envs import make
from cfsal.errors import CheckpointError
from cfsal.testing import tiny_agent

ZOO = cards()
REPRODUCED_EPISODES = 2


def test_the_zoo_has_controls_for_every_game():
    for game in ("breakout", "amidar", "space_invaders", "pong"):
        assert f"{game}-constant" in ZOO and f"{game}-random" in ZOO


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_agent_loads_acts_and_reproduces_its_card(name):
    card = ZOO[name]
    agent = load_agent(name)
    assert agent.spec.game == card.game
    env = make(card.game, seed=0)
    action = agent.act(env.observation, rng=np.random.default_rng(0))
    env.step(int(action[0]))
    ev = card.evaluation
    assert ev and ev["ci_low"] <= ev["mean"] <= ev["ci_high"] and ev["episodes"] == len(ev["scores"])
    again = evaluate(agent, episodes=REPRODUCED_EPISODES, seed=ev["seed"], greedy=ev["greedy"],
                     max_steps=ev["max_steps"])
    assert list(again.scores) == ev["scores"][:REPRODUCED_EPISODES], (
        f"{name} no longer reproduces its card: re-run `cfsal zoo refresh {name}` if it was retrained"
    )


@pytest.fixture
def private_zoo(tmp_path):
    path = save_checkpoint(tiny_agent(), tmp_path / "tiny.safetensors")
    ModelCard("tiny", "checkpoint", "breakout", "test agent", checkpoint=path.name, sha256=sha256_of(path)).write(tmp_path)
    return tmp_path


def test_tampered_checkpoint_fails_its_sha256_check(private_zoo):
    assert load_from_zoo("tiny", directory=private_zoo).spec.game == "breakout"
    path = private_zoo / "tiny.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 .* but its card says"):
        load_from_zoo("tiny", directory=private_zoo)


def test_missing_checkpoint_and_malformed_card_are_explained(private_zoo):
    (private_zoo / "tiny.safetensors").unlink()
    with pytest.raises(CheckpointError, match="is missing"):
        load_from_zoo("tiny", directory=private_zoo)
    (private_zoo / "tiny.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="malformed"):
        load_from_zoo("tiny", directory=private_zoo)


def test_randomized_copy_differs_from_its_base_deterministically(private_zoo):
    ModelCard("tiny-randomized", "randomized", "breakout", "test", base="tiny", seed=4).write(private_zoo)
    base = load_from_zoo("tiny", directory=private_zoo)
    first = load_from_zoo("tiny-randomized", directory=private_zoo)
    second = load_from_zoo("tiny-randomized", directory=private_zoo)
    w = "policy_head.weight"
    assert not np.allclose(base.state_dict()[w], first.state_dict()[w])
    assert np.array_equal(first.state_dict()[w], second.state_dict()[w])


def test_refresh_accepts_a_retrained_checkpoint(private_zoo):
    from cfsal.agents.zoo import refresh_card

    save_checkpoint(tiny_agent(seed=9), private_zoo / "tiny.safetensors")  # "retrained"
    with pytest.raises(CheckpointError, match="sha256"):
        load_from_zoo("tiny", directory=private_zoo)
    card = refresh_card(cards(private_zoo)["tiny"], episodes=1, directory=private_zoo)
    assert card.sha256 == sha256_of(private_zoo / "tiny.safetensors") and card.evaluation["episodes"] == 1
    assert load_from_zoo("tiny", directory=private_zoo).spec.game == "breakout"
