"""The Markdown verdict table (`cfsal report RESULTS.json --markdown`): rows, pictures, CLI."""

import json

import numpy as np
from PIL import Image

from cfsal.cli import main
from cfsal.report.table import markdown_table
from tests.test_report import record, results


def with_picture(tmp_path, rec, label="typical"):
    image = tmp_path / f"{label}.png"
    Image.fromarray(np.full((210, 480, 3), 90, dtype=np.uint8)).save(image)
    rec["media"] = {"branches": [{"label": "extreme", "image": str(tmp_path / "missing.png")},
                                 {"label": label, "image": str(image)}]}
    return rec


def test_one_row_per_hypothesis_with_the_adjusted_verdict(tmp_path):
    session = results(record("hypotheses/test_a.py::test_ball", "Moving the ball | matters.", "SUPPORTED", 0.3, [0.3]),
                      {"nodeid": "hypotheses/test_b.py::test_broken", "claim": "It breaks.", "status": "ERROR",
                       "agent": "nobody"})
    lines = markdown_table(session)
    assert len(lines) == 4 and lines[0].startswith("| hypothesis |")
    assert "`test_a.py::test_ball`" in lines[2] and "**SUPPORTED**" in lines[2]
    assert "0.300 [0.200, 0.400]" in lines[2] and "| 0.020 |" in lines[2]  # the Holm-adjusted p
    assert "Moving the ball \\| matters." in lines[2]  # a | in user text does not split the row
    assert "| ERROR |" in lines[3]


def test_thumbnails_are_small_copies_of_the_typical_picture_linked_relatively(tmp_path):
    session = results(with_picture(tmp_path, record("hypotheses/t.py::test_x", "x", "SUPPORTED", 0.3, [0.3])))
    lines = markdown_table(session, thumbnails=tmp_path / "docs" / "img", link_from=tmp_path / "docs", width=120)
    assert "![](img/typical.png)" in lines[2]
    with Image.open(tmp_path / "docs" / "img" / "typical.png") as thumb:
        assert thumb.width == 120


def test_cli_prints_the_table(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results(record("hypotheses/t.py::test_x", "x", "REFUTED", -0.2, [-0.2]))))
    assert main(["report", str(path), "--markdown"]) == 0
    assert "**REFUTED**" in capsys.readouterr().out


def test_non_finite_numbers_from_strict_json_print_as_symbols():
    from cfsal.report.table import verdict_table

    rec = record("hypotheses/t.py::test_x", "x", "INCONCLUSIVE", 0.1, [0.1])
    rec["adjusted_verdict"].update(ci_low="-inf", ci_high="inf", p_adjusted="nan")
    line = verdict_table([rec])[1]
    assert "[−∞, ∞]" in line and "—" in line
    assert "[−∞, ∞]" in markdown_table(results(rec))[2]


def test_an_interval_that_is_not_95_percent_says_its_level():
    from cfsal.report.table import verdict_table

    plain = record("hypotheses/t.py::test_a", "a", "SUPPORTED", 0.3, [0.3])
    look = record("hypotheses/t.py::test_b", "b", "SUPPORTED", 0.3, [0.3])
    for key in ("verdict", "adjusted_verdict"):
        plain[key]["confidence"] = 0.95
        look[key]["confidence"] = 0.995          # a group-sequential look at 0.1 × α
    rows = verdict_table([plain, look])
    assert "effect [CI]" in rows[0] and "%" not in rows[1] and "[0.200, 0.400] 99.5%" in rows[2]
    assert "[0.200, 0.400] 99.5%" in markdown_table(results(look))[2]
