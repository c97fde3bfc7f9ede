"""Untrusted files: nothing cfsal reads can run code, unless the user says they trust it.

Every payload here, if it ran, would create a marker file; each test checks the marker is absent.
* cfsal checkpoints (safetensors + JSON metadata) load with every unpickler in the process
  disabled, and a pickle hidden in their metadata stays an inert string;
* SB3 zips (a pickled ``policy.pth``; cloudpickle in ``data``) and TorchScript (a program) load
  only with ``trust=True`` and a warning, and even then a code-carrying ``policy.pth`` is refused;
* a zoo checkpoint whose bytes changed fails its sha256 before its metadata is read;
* YAML is parsed with ``safe_load``: a ``!!python/object`` tag is refused;
* the HTML report escapes every text a user wrote (claims, agent names, errors quoting their input).
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from cfsal.agents import load_checkpoint, save_checkpoint
from cfsal.agents.loaders import load_sb3_zip
from cfsal.agents.networks import sb3_key_map
from cfsal.agents.zoo import ZOO_DIR, load_agent, load_from_zoo
from cfsal.errors import CheckpointError, InterventionError
from cfsal.interventions import from_spec
from cfsal.testing import tiny_agent

CFSAL_ROOT = Path(__file__).resolve().parents[2] / "cfsal"


class _Payload:
    """Unpickling this creates ``marker``: the proof that a file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickled_payload(marker: Path) -> bytes:
    return pickle.dumps(_Payload(marker))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "code-ran"
    yield path
    assert not path.exists(), "a file made cfsal run code"


@pytest.fixture
def no_unpickling(monkeypatch):
    """Every way to unpickle in this process raises, so a successful load proves none happened."""
    def refuse(*args, **kwargs):
        raise AssertionError("cfsal unpickled something while loading a cfsal checkpoint")

    class RefusingUnpickler:
        def __init__(self, *args, **kwargs):
            refuse()

    for module, name in ((pickle, "loads"), (pickle, "load"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", RefusingUnpickler)


def _with_metadata(path: Path, extra: dict[str, str], replace_cfsal: str | None = None) -> Path:
    """Rewrite a safetensors file's header metadata (the JSON header is length-prefixed)."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    header["__metadata__"].update(extra)
    if replace_cfsal is not None:
        header["__metadata__"]["cfsal"] = replace_cfsal
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    out = path.with_name("tampered.safetensors")
    out.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + size:])
    return out


def test_a_cfsal_checkpoint_loads_with_every_unpickler_disabled(tmp_path, no_unpickling):
    agent = tiny_agent()
    path = save_checkpoint(agent, tmp_path / "a.safetensors")
    loaded = load_checkpoint(path, game="breakout")
    for name, tensor in agent.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def test_a_pickle_in_checkpoint_metadata_stays_an_inert_string(tmp_path, marker, no_unpickling):
    path = save_checkpoint(tiny_agent(), tmp_path / "a.safetensors")
    payload = base64.b64encode(_pickled_payload(marker)).decode()
    tampered = _with_metadata(path, {"evil": payload, "__reduce__": payload})
    assert load_checkpoint(tampered).spec.game == "breakout"
    evil = _with_metadata(path, {}, replace_cfsal=_pickled_payload(marker).decode("latin-1"))
    with pytest.raises(CheckpointError, match="damaged cfsal metadata"):
        load_checkpoint(evil)


def _sb3_zip(tmp_path: Path, policy: bytes, data: bytes = b"{}") -> Path:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("policy.pth", policy)
        archive.writestr("data", data)
        archive.writestr("_stable_baselines3_version", "2.3.0")
    return path


def _sb3_policy_bytes() -> bytes:
    ours = tiny_agent().state_dict()
    buffer = io.BytesIO()
    torch.save({theirs: ours[mine] for theirs, mine in sb3_key_map().items()}, buffer)
    return buffer.getvalue()


def test_an_sb3_zip_needs_trust_and_warns_even_then(tmp_path, marker):
    cloudpickled = base64.b64encode(_pickled_payload(marker)).decode()
    data = json.dumps({"observation_space": {":type:": "<class 'gymnasium.spaces.box.Box'>",
                                             ":serialized:": cloudpickled}}).encode()
    path = _sb3_zip(tmp_path, _sb3_policy_bytes(), data)
    with pytest.raises(CheckpointError, match="policy.pth is a pickle.*trust=True.*--trust-code"):
        load_agent(str(path), game="breakout")
    with pytest.warns(UserWarning, match="policy.pth is a pickle"):
        agent = load_agent(str(path), game="breakout", trust=True)
    assert agent.spec.game == "breakout"  # and the cloudpickled `data` member was never opened


def test_a_code_carrying_policy_is_refused_even_with_trust(tmp_path, marker):
    path = _sb3_zip(tmp_path, _pickled_payload(marker))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CheckpointError, match="could not be read safely"):
            load_sb3_zip(path, game="breakout", trust=True)


def test_torchscript_needs_trust_and_warns(tmp_path):
    class Policy(torch.nn.Module):
        def forward(self, obs):
            return obs.flatten(1)[:, :4], obs.flatten(1)[:, 0]

    path = tmp_path / "agent.pt"
    torch.jit.script(Policy()).save(str(path))
    with pytest.raises(CheckpointError, match="executes code when loaded.*trust=True"):
        load_agent(str(path), game="breakout")
    with pytest.warns(UserWarning, match="can run arbitrary code"):
        assert load_agent(str(path), game="breakout", trust=True).spec.n_actions == 4


def test_a_tampered_zoo_checkpoint_fails_its_sha256_before_it_is_read(tmp_path):
    card = json.loads((ZOO_DIR / "breakout-a2c.json").read_text())
    shutil.copy(ZOO_DIR / "breakout-a2c.json", tmp_path)
    original = ZOO_DIR / card["checkpoint"]
    # Tamper with the metadata only (claim it plays amidar): the weights are untouched.
    data = original.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = data[8:8 + size].replace(b'\\"game\\": \\"breakout\\"', b'\\"game\\": \\"amidar\\"  ')
    assert header != data[8:8 + size] and len(header) == size
    (tmp_path / card["checkpoint"]).write_bytes(data[:8] + header + data[8 + size:])
    with pytest.raises(CheckpointError, match=rf"{re.escape(card['checkpoint'])} has sha256 .* but its card says "
                                              rf"{card['sha256'][:16]}.*git checkout"):
        load_from_zoo("breakout-a2c", directory=tmp_path)


def test_yaml_with_a_python_tag_is_refused(marker):
    for text in (f"!!python/object/apply:pathlib.Path.touch [{str(marker)!r}]",
                 f"{{name: breakout.move_ball, dx: !!python/object/apply:os.system ['touch {marker}']}}"):
        with pytest.raises(InterventionError, match="not valid YAML"):
            from_spec(text)


def test_no_module_loads_yaml_or_pickles_unsafely():
    """The rules above hold for code written later too: no unsafe loader anywhere in cfsal."""
    unsafe = re.compile(r"yaml\.(load|unsafe_load|full_load)\(|pickle\.loads?\(|Unpickler\(|import cloudpickle|"
                        r"cloudpickle\.|np\.load\([^)]*allow_pickle=True|numpy\.load\([^)]*allow_pickle=True|"
                        r"(?<![.\w])(eval|exec)\(")

    def is_unsafe(line: str) -> bool:
        return bool(unsafe.search(line)) or ("torch.load(" in line and "weights_only=True" not in line)

    offenders = [f"{path.relative_to(CFSAL_ROOT.parent)}:{number}: {line.strip()}"
                 for path in CFSAL_ROOT.rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1) if is_unsafe(line)]
    assert not offenders, "\n".join(offenders)


HOSTILE = '''
import cfsal
from cfsal import measures
from cfsal.interventions import from_spec
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball

@cfsal.hypothesis("<script>alert('claim')</script> moves the ball")
def test_hostile_claim(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), branch_every=15, horizon=2,
                          measure=measures.policy_total_variation)

@cfsal.hypothesis("an error quoting the user's input")
def test_hostile_error(counterfactual):
    return counterfactual(from_spec({"name": "<img src=x onerror=alert('error')>"}))
'''


@pytest.mark.slow
def test_the_html_report_escapes_what_users_wrote_end_to_end(pytester):
    pytester.makeconftest('''
import pytest
from cfsal.testing import tiny_agent

@pytest.fixture
def agent():
    return tiny_agent(seed=0, name="<b onmouseover=alert('agent')>tiny</b>")
''')
    pytester.makepyfile(test_hostile=HOSTILE)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "4", "--cfsal-json", "out.json",
                                  "--cfsal-html", "report/index.html")
    page = (pytester.path / "report" / "index.html").read_text()
    assert "&lt;script&gt;alert(&#x27;claim&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(&#x27;error&#x27;)&gt;" in page
    for raw in ("<script", "<img src=x", "<b onmouseover", "onmouseover=alert"):
        assert raw not in page.replace("&lt;b onmouseover", "")  # the escaped form is fine; markup is not
    assert os.path.getsize(pytester.path / "out.json") > 0
