"""Saliency movies and the `cfsal saliency` command."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from cfsal.agents import AgentSpec, NatureActorCritic, save_checkpoint
from cfsal.cli import main
from cfsal.saliency import SaliencyMap, saliency
from cfsal.saliency.cli import play_episode
from cfsal.saliency.movie import overlay, render, write_movie

torch.set_num_threads(1)


def _maps(actor: np.ndarray, critic: np.ndarray) -> SaliencyMap:
    return SaliencyMap(actor, critic, "test", {}, "agent", "breakout")


def test_overlay_paints_actor_blue_and_critic_red():
    rgb = np.full((2, 160, 240, 3), 100, dtype=np.uint8)
    actor = np.zeros((2, 84, 84), dtype=np.float32)
    critic = np.zeros_like(actor)
    actor[0, 10:20, 10:20] = 1.0
    critic[1, 50:60, 50:60] = 1.0
    out = overlay(rgb, actor, critic, actor_scale=1.0, critic_scale=1.0).astype(int)
    blue_spot, red_spot = out[0, 28, 42], out[1, 104, 157]
    assert blue_spot[2] > 200 and blue_spot[0] < 100
    assert red_spot[0] > 200 and red_spot[2] < 100
    assert (out[0, 150, 230] == 100).all()  # no saliency: the frame is untouched


def test_render_puts_raw_and_overlaid_frames_side_by_side():
    rgb = np.random.default_rng(0).integers(0, 255, (3, 160, 240, 3), dtype=np.uint8)
    maps = _maps(np.random.default_rng(1).random((3, 84, 84)), np.zeros((3, 84, 84)))
    frames = render(rgb, maps, upscale=1)
    assert frames.shape == (3, 160, 2 * 240 + 4, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[:, :, :240], rgb)
    with pytest.raises(ValueError, match="one RGB frame"):
        render(rgb[:2], maps)


def test_movie_files_open_with_the_right_frame_count(tmp_path):
    import imageio.v3 as iio

    frames = np.random.default_rng(0).integers(0, 255, (7, 41, 63, 3), dtype=np.uint8)
    written = write_movie(frames, tmp_path, "clip", fps=10, stills=3)
    assert iio.imread(written["gif"][0]).shape[:3] == (7, 41, 63)
    assert iio.imread(written["mp4"][0], plugin="FFMPEG").shape[0] == 7
    assert [p.name for p in written["stills"]] == ["clip-00000.png", "clip-00003.png", "clip-00006.png"]
    np.testing.assert_array_equal(iio.imread(written["stills"][1]), frames[3])


def test_play_episode_records_aligned_observations_frames_and_states():
    agent = NatureActorCritic(AgentSpec.for_game("breakout"))
    episode = play_episode(agent, seed=2, max_steps=5)
    assert episode.observations.shape == (5, 4, 84, 84)
    assert episode.rgb.shape == (5, 160, 240, 3) and len(episode.states) == 5
    maps = saliency(agent, episode.observations, "jacobian", states=episode.states)
    assert len(maps.objects) == 5


def test_cli_writes_maps_movies_and_stills(tmp_path, capsys):
    path = save_checkpoint(NatureActorCritic(AgentSpec.for_game("breakout"), name="fresh"), tmp_path / "fresh.safetensors")
    out = tmp_path / "out"
    assert main(["saliency", str(path), "--method", "jacobian", "--episodes", "2", "--max-steps", "6",
                 "--out", str(out), "--stills", "2", "--no-progress", "--param", "target=\"action\"",
                 "--formats", "gif", "mp4"]) == 0
    for episode in (0, 1):
        maps = SaliencyMap.load(out / f"fresh-jacobian-ep{episode}.saliency.npz")
        assert len(maps) == 6 and maps.params["target"] == "action" and len(maps.details["actions"]) == 6
        assert (out / f"fresh-jacobian-ep{episode}.gif").stat().st_size > 0
        assert (out / f"fresh-jacobian-ep{episode}.mp4").stat().st_size > 0
    assert len(list(out.glob("*.png"))) == 4
    printed = capsys.readouterr().out
    assert "episode 1 (seed 1): its first 6 steps (--max-steps; the game went on)" in printed
    assert re.search(r"fresh-jacobian-ep0\.saliency\.npz \(\d+\.\d MB\), fresh-jacobian-ep0\.mp4 \(\d+\.\d MB\)", printed)


def test_cli_writes_no_gif_unless_asked_and_says_where_it_stops(tmp_path, capsys):
    path = save_checkpoint(NatureActorCritic(AgentSpec.for_game("breakout"), name="fresh"), tmp_path / "fresh.safetensors")
    assert main(["saliency", str(path), "--method", "jacobian", "--max-steps", "3", "--out", str(tmp_path),
                 "--stills", "0", "--no-progress"]) == 0
    assert sorted(p.name for p in tmp_path.glob("fresh-jacobian-*")) == ["fresh-jacobian-ep0.mp4",
                                                                          "fresh-jacobian-ep0.saliency.npz"]
    with pytest.raises(SystemExit):
        main(["saliency", "--help"])
    assert "default 500" in capsys.readouterr().out


def test_cli_explains_an_unknown_method(tmp_path, capsys):
    path = save_checkpoint(NatureActorCritic(AgentSpec.for_game("breakout")), tmp_path / "a.safetensors")
    assert main(["saliency", str(path), "--method", "gradcam", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "unknown saliency method 'gradcam'" in capsys.readouterr().err
