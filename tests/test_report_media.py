"""Branch frames for the report, and the plugin writing the report (`--cfsal-html`) from the outside."""

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from cfsal import measures
from cfsal.envs import make
from cfsal.envs.objects import objects
from cfsal.interventions import ale_breakout, ale_pong, breakout
from cfsal.report.html import referenced_files
from cfsal.report.media import branch_media, rebuild_branch_points
from cfsal.rollout import counterfactual
from cfsal.testing import StateEdit, shift_ball, tiny_agent

HAVE_IMAGEIO = importlib.util.find_spec("imageio") is not None  # the 'movies' extra


@pytest.fixture(scope="module")
def agent():
    return tiny_agent(seed=0, name="tiny")


@pytest.fixture(scope="module")
def moved(agent):
    return counterfactual(agent, breakout.MoveBall(dx=40), samples=6, branch_every=15, horizon=4,
                          measure=measures.policy_total_variation, seed=11)


def test_rebuilt_branch_points_reproduce_the_recorded_observations(agent, moved):
    points = rebuild_branch_points(agent, moved, [0, 5])
    assert sorted(points) == [0, 5]
    for index, point in points.items():
        assert (point.episode, point.step) == (moved.episodes[index], moved.steps[index])
        # the factual arm's first observation differs from the snapshot only in the re-rendered newest frame
        assert np.array_equal(point.snapshot.frame_stack[:3], moved.pairs[index].factual.first_observation[:3])


def test_branch_media_draws_rgb_frames_with_saliency_and_a_movie(tmp_path, agent, moved):
    media = branch_media(agent, moved, tmp_path, stem="h")
    assert media["notes"] == [] or not HAVE_IMAGEIO
    labels = [b["label"] for b in media["branches"]]
    assert labels in (["typical", "extreme"], ["typical"])
    for branch in media["branches"]:
        assert branch["source"] == "rgb"  # the rebuilt environment matched the experiment bit for bit
        assert branch["value"] == moved.values[branch["index"]]
        image = np.asarray(Image.open(branch["image"]).convert("RGB"))
        height, width, _ = make("breakout").rgb_frame().shape
        assert image.shape == (2 * height + 4, 2 * width + 4, 3)  # 2×2 grid of full-size game frames
        top, bottom = image[: image.shape[0] // 2], image[image.shape[0] // 2:]
        assert np.any(np.all(top == [0, 255, 255], axis=-1))  # the moved ball is outlined in cyan
        assert not np.array_equal(top, bottom)  # the bottom row carries the saliency overlay
    if HAVE_IMAGEIO:
        assert media["movie"].endswith(".gif") and Image.open(media["movie"]).n_frames == 5  # horizon 4 + start
    else:
        assert media["movie"] is None and any("pip install 'cfsal[movies]'" in n for n in media["notes"])
    json.dumps(media)  # it goes into the results JSON as is


def _outlines(panel: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The cyan rectangles drawn on a figure's panel, ``(x0, y0, x1, y1)`` inclusive."""
    cyan = np.all(panel == [0, 255, 255], axis=-1)
    labels, _ = ndimage.label(ndimage.binary_fill_holes(cyan))
    return [(cols.start, rows.start, cols.stop - 1, rows.stop - 1) for rows, cols in ndimage.find_objects(labels)]


@pytest.mark.parametrize("game, move", [("ale_pong", ale_pong.MoveBall(dy=40)),
                                        ("ale_breakout", ale_breakout.MoveBall(dx=40))], ids=["ale_pong", "ale_breakout"])
def test_on_atari_frames_the_figure_outlines_the_moved_ball_at_its_ram_box(tmp_path, game, move):
    """On a real Atari game the branch figure is the game's own frame, full size, with the moved ball
    outlined at both its places in both panels: each outline closes around the ball's box as
    OCAtari's RAM addresses place it (cfsal.envs.objects) in the frame the figure shows — the one
    the emulator draws after the edit, whose RAM each trace's ``shown_state`` carries — to within a
    pixel, and nothing else of the frame changes."""
    agent = tiny_agent(game, seed=0, name="tiny")
    result = counterfactual(agent, move, samples=2, horizon=1, measure=measures.policy_total_variation, seed=1)
    media = branch_media(agent, result, tmp_path, stem=game, movie=False)
    assert media["branches"]
    for branch in media["branches"]:
        assert branch["source"] == "rgb"
        pair = result.pairs[branch["index"]]
        frames, balls = [], []
        for trace in (pair.factual, pair.intervened):
            env = make(game)
            env.set_toybox_state(json.loads(trace.first_state))
            env.refresh_observation()  # as the branch was settled: the picture of the next emulated frame
            frames.append(env.rgb_frame())
            balls.append(objects(game, json.loads(trace.shown_state))["ball"])  # where that picture has it
        height, width, _ = frames[0].shape
        image = np.asarray(Image.open(branch["image"]).convert("RGB"))
        for panel, frame in ((image[:height, :width], frames[0]), (image[:height, width + 4:2 * width + 4], frames[1])):
            drawn = np.any(panel != frame, axis=-1)
            assert np.all(panel[drawn] == [0, 255, 255])  # the frame itself, with cyan outlines only
            outlines = _outlines(panel)
            for ball in balls:
                assert any(abs(x0 + 1 - ball.x0) <= 1 and abs(x1 - ball.x1) <= 1 and abs(y0 + 1 - ball.y0) <= 1
                           and abs(y1 - ball.y1) <= 1 for x0, y0, x1, y1 in outlines), (ball, outlines)


def test_round_robin_branches_are_rebuilt_with_the_intervention_each_received(tmp_path, agent):
    doses = [breakout.MoveBall(dx=-30), breakout.MoveBall(dx=30)]
    result = counterfactual(agent, doses, samples=4, branch_every=15, horizon=3,
                            measure=measures.policy_total_variation, seed=4)
    media = branch_media(agent, result, tmp_path, stem="rr", movie=False)
    for branch in media["branches"]:
        assert branch["source"] == "rgb"
        assert branch["intervention"] == doses[result.assignments[branch["index"]]].to_dict()


def test_unrebuildable_interventions_fall_back_to_the_agents_observation(tmp_path, agent):
    result = counterfactual(agent, StateEdit("breakout", shift_ball(60, 20)), samples=4, branch_every=15,
                            horizon=3, measure=measures.policy_total_variation, seed=2)
    media = branch_media(agent, result, tmp_path, stem="fake")
    assert {b["source"] for b in media["branches"]} == {"observation"}
    assert media["movie"] is None and any("could not be rebuilt" in n for n in media["notes"])
    image = np.asarray(Image.open(media["branches"][0]["image"]).convert("RGB"))
    assert image.shape == (2 * 168 + 4, 2 * 168 + 4, 3)


HYPOTHESES = '''
import cfsal
from cfsal import measures
from cfsal.envs import make
from cfsal.interventions import breakout

@cfsal.hypothesis(kind="effect")
def test_moving_the_ball_changes_the_policy(counterfactual):
    """Moving the ball changes the <em>policy</em>."""
    return counterfactual(breakout.MoveBall(dx=40), states=cfsal.States(window=(5, 60)), horizon=4,
                          measure=measures.policy_total_variation)
'''


@pytest.mark.slow
def test_plugin_writes_the_report_with_frames_and_a_comparison(tiny_project):
    tiny_project.makepyfile(test_claims=HYPOTHESES)
    baseline = {"schema_version": 1, "settings": {"seed": 0}, "hypotheses": [
        {"nodeid": "test_claims.py::test_moving_the_ball_changes_the_policy", "claim": "old", "status": "ERROR"},
        {"nodeid": "test_claims.py::test_gone", "claim": "gone", "status": "ERROR"}]}
    (tiny_project.path / "base.json").write_text(json.dumps(baseline))
    result = tiny_project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "6", "--cfsal-json",
                                               "out.json", "--cfsal-html", "reports/index.html", "--cfsal-compare",
                                               "base.json")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 1  # a verdict, whichever: the report is tested
    result.stdout.fnmatch_lines(["report: reports/index.html"])
    record = json.loads((tiny_project.path / "out.json").read_text())["hypotheses"][0]
    assert record["status"] in ("SUPPORTED", "REFUTED", "INCONCLUSIVE")
    assert record["media"]["branches"][0]["source"] == "rgb"
    page = (tiny_project.path / "reports" / "index.html").read_text()
    assert "Changes since the baseline" in page and "1 verdict changed, 1 removed" in page
    assert "the &lt;em&gt;policy&lt;/em&gt;" in page and "typical branch" in page
    assert ("Movie of the" in page) == HAVE_IMAGEIO
    files = list(referenced_files(page, tiny_project.path / "reports"))
    assert len(files) >= 3 and all(f.is_file() for f in files)


def test_a_missing_baseline_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-compare", "missing.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cfsal-compare*does not exist*"])


def test_no_report_without_hypotheses(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-html", "r.html").assert_outcomes(passed=1)
    assert not (pytester.path / "r.html").exists()
