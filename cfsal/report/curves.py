"""Learning curves of training runs (``<checkpoint>.train/curve.csv``) as one matplotlib figure."""

from __future__ import annotations

import csv
from pathlib import Path

from matplotlib.figure import Figure  # figures drawn off-screen, leaving the pyplot backend alone

from cfsal.agents.zoo import cards
from cfsal.errors import CfsalError

#: Score targets for the zoo's A2C agents (breakout, amidar: issue #3; ale_pong: a mean of +15 over 30 games).
TARGETS = {"breakout": 40.0, "amidar": 150.0, "ale_pong": 15.0}


def _random_policy_score(game: str) -> float | None:
    """The uniform-random control's evaluated mean, from its zoo card."""
    card = cards().get(f"{game}-random")
    return card.evaluation.get("mean") if card and card.evaluation else None


COLUMNS = ("steps", "mean_score_last_100")


def is_training_curve(train_dir: Path) -> bool:
    """Whether ``train_dir`` holds a `cfsal train` learning curve (DAgger runs log other columns)."""
    path = train_dir / "curve.csv"
    if not path.exists():
        return False
    with path.open() as handle:
        header = next(csv.reader(handle), [])
    return all(column in header for column in COLUMNS)


def read_curve(train_dir: Path) -> tuple[list[int], list[float]]:
    if not is_training_curve(train_dir):
        raise CfsalError(f"{train_dir / 'curve.csv'} is not a `cfsal train` learning curve (needs columns {COLUMNS})")
    steps, scores = [], []
    with (train_dir / "curve.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["mean_score_last_100"]:
                steps.append(int(row["steps"]))
                scores.append(float(row["mean_score_last_100"]))
    return steps, scores


def plot_learning_curves(train_dirs: list[Path], out: Path) -> Path:
    """One panel per run: mean training score (last 100 games) against agent steps."""
    fig = Figure(figsize=(5 * len(train_dirs), 3.4))
    axes = fig.subplots(1, len(train_dirs), squeeze=False)
    for ax, train_dir in zip(axes[0], train_dirs):
        name = train_dir.name.removesuffix(".safetensors.train")
        steps, scores = read_curve(train_dir)
        ax.plot([s / 1e6 for s in steps], scores, color="#1f5fa8", lw=1.6, label="A2C (training games)")
        game = name.split("-")[0]
        for label, value, style in (("target", TARGETS.get(game), "--"),
                                    ("uniform random", _random_policy_score(game), ":")):
            if value is not None:
                ax.axhline(value, color="grey", ls=style, lw=1, label=f"{label} ({value:.3g})")
        ax.set_title(name)
        ax.set_xlabel("agent steps (millions; 4 frames each)")
        ax.set_ylabel("mean score, last 100 games")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
