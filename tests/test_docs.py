"""The documentation: its code runs, its links resolve, the site builds strictly, the README stays one screen.

- Every ```python block of the tutorials and of the API page runs, the blocks of a page in order in one
  namespace (as a reader would type them), in a folder holding the tiny runs a page loads (``outputs/train/...``;
  those pages are slow tests).
- The ``hhlif <command>`` lines of the ```bash blocks name real commands.
- ``mkdocs build --strict`` succeeds (a warning or a broken link fails it).
- The configuration reference is generated from ``conf/`` (``docs/hooks/config_reference.py``): every file, key,
  default and comment appears, so it cannot drift.
- The README: at most 150 lines, its links point at files that exist, and it links every page of the site.
- Nothing in the repository cites the authors'-code notes that users do not have; docs pages are cited instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO, run_cli

DOCS = REPO / "docs"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def blocks(page: Path, language: str) -> list[str]:
    return [code for lang, code in FENCE.findall(page.read_text(encoding="utf-8")) if lang == language]


RUN_PAGES = [p for p in sorted([*(DOCS / "tutorials").glob("*.md"), DOCS / "reference" / "api.md"])
             if blocks(p, "python")]


def needs_runs(page: Path) -> bool:
    """A page whose code loads runs (``outputs/...``): it needs the tiny runs made for it (about 30 s)."""
    return any("outputs/" in block for block in blocks(page, "python"))


def hook():
    spec = importlib.util.spec_from_file_location("config_reference", DOCS / "hooks" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the code of the pages ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, data_root) -> Path:
    """A working directory with the tiny runs the tutorials load: an HH classifier and an HH SAC actor."""
    cwd = tmp_path_factory.mktemp("doc-runs")
    env = {"HHLIF_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    for args in (["neuron=hh", "task=multimnist", "trainer.max_epochs=1", "task.limit_train=256",
                  "task.limit_test=128"],
                 ["neuron=hh", "task=inverted_pendulum", "trainer.total_steps=300", "trainer.start_steps=100",
                  "trainer.batch_size=32", "trainer.eval_every=150", "trainer.eval_episodes=1"]):
        done = run_cli(["train", *args, "trainer.progress=never"], cwd=cwd, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
    return cwd


def test_the_pages_with_code_are_found():
    with_code = {p.relative_to(DOCS).as_posix() for p in RUN_PAGES}
    assert {"reference/api.md", "tutorials/hh-layer-pytorch.md", "tutorials/own-neuron.md",
            "tutorials/train-hh.md", "tutorials/sac.md"} <= with_code


@pytest.mark.parametrize("page", [pytest.param(p, marks=[pytest.mark.slow] if needs_runs(p) else [],
                                                id=p.relative_to(DOCS).as_posix()) for p in RUN_PAGES])
def test_python_blocks_run(page, request, monkeypatch):
    code = blocks(page, "python")
    monkeypatch.chdir(request.getfixturevalue("runs_dir" if needs_runs(page) else "tmp_path"))
    namespace: dict = {"__name__": "__main__"}
    for i, block in enumerate(code):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, f"{page.relative_to(DOCS)} python block {i + 1}", "exec"), namespace)  # noqa: S102
        assert out.getvalue().strip(), f"{page.name} block {i + 1} prints nothing: the page shows its output"


def test_the_pytorch_tutorial_shows_the_example_file_as_it_is():
    body = (REPO / "examples" / "hh_layer_in_pytorch.py").read_text().split('"""', 2)[2].strip()
    assert body in (DOCS / "tutorials" / "hh-layer-pytorch.md").read_text()


def test_bash_blocks_name_real_commands():
    """Every ``hhlif <command>`` of the docs' shell blocks is a command of ``hhlif --help`` (which is run)."""
    done = subprocess.run([sys.executable, "-m", "hhlif", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    known = set(re.findall(r"^  (\w+)\s{2,}", done.stdout, re.M))
    assert {"train", "report", "check", "explain", "flops", "bench", "simulate"} <= known
    named = set()
    for page in [*DOCS.rglob("*.md"), REPO / "README.md"]:
        for block in blocks(page, "bash"):
            named |= {(page.name, cmd) for cmd in re.findall(r"^\s*hhlif (\w+)", block, re.M)}
    unknown = sorted((name, cmd) for name, cmd in named if cmd not in known)
    assert not unknown, f"commands that do not exist: {unknown}"
    assert len({cmd for _, cmd in named}) >= 6


# -- the site ---------------------------------------------------------------------------------------------------

def test_mkdocs_builds_strictly(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (make setup installs the docs extra)")
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    config_page = (tmp_path / "site" / "reference" / "config" / "index.html").read_text()
    assert "hhlif.neurons.hh.HH" in config_page and "hhlif:config-reference" not in config_page
    api_page = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert "initial_state" in api_page and "load_run" in api_page and "check_neuron" in api_page
    # every page (and anchor) of the site that the code, configs, tests and examples cite exists
    cited = set()
    for folder in ("hhlif", "conf", "tests", "examples", "scripts"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in {".py", ".yaml", ".toml"} and path.is_file():
                cited |= set(re.findall(r"docs/([\w/-]+)\.md(?:#([\w-]+))?", path.read_text(encoding="utf-8")))
    assert len(cited) >= 10
    broken = []
    for page, anchor in sorted(cited):
        html = tmp_path / "site" / page / "index.html"
        if not html.exists() or (anchor and f'id="{anchor}"' not in html.read_text()):
            broken.append(f"docs/{page}.md#{anchor}")
    assert not broken, f"cited but not in the site: {broken}"


def nav_pages() -> list[str]:
    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    return list(walk(config["nav"]))


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    nav = nav_pages()
    assert sorted(set(nav) - pages) == [], "nav entries without a page"
    assert sorted(pages - set(nav)) == [], "pages missing from the nav"


# -- the generated configuration reference -------------------------------------------------------------------------

def test_the_config_hook_parses_keys_defaults_and_comments():
    header, rows = hook().parse(
        "# @package _global_\n# What the file is.\n# Second line.\ndefaults:\n  - neuron: hh   # the unit\n"
        "  - _self_\na: 1          # one\nb:\n  # above c\n  c: 'x # y'   # comment\n  d: [1, 2]\nhelp: |\n"
        "  text: not a key\ne: null\n")
    assert header == ["What the file is.", "Second line."]
    assert rows == [("defaults", ["neuron: hh", "_self_"], "`neuron: hh`: the unit"), ("a", "1", "one"),
                    ("b.c", "'x # y'", "above c comment"), ("b.d", "[1, 2]", ""), ("help", "(text block)", ""),
                    ("e", "null", "")]


def test_the_config_reference_lists_every_file_key_default_and_comment():
    module = hook()
    text = module.render(REPO / "conf")
    for path in sorted((REPO / "conf").rglob("*.yaml")):
        rel = path.relative_to(REPO / "conf")
        title = f"{rel.parent.as_posix()}={rel.stem}" if rel.parent.name else f"{rel.name}: "
        assert title in text, f"{rel} is missing from the configuration reference"
    hh_rows = dict((key, (value, comment)) for key, value, comment in
                   module.parse((REPO / "conf" / "neuron" / "hh.yaml").read_text())[1])
    assert hh_rows["threshold"] == ("0.2", "θ (mV): spike when v > θ")
    assert "| `threshold` | `0.2` | θ (mV): spike when v &gt; θ |" in text


# -- the README -----------------------------------------------------------------------------------------------------

def test_the_readme_is_one_screen_with_a_table_of_contents():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    local = [link for link in LINK.findall(text) if not link.startswith(("http://", "https://", "#"))]
    missing = [link for link in local if not (REPO / link.split("#")[0]).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
    linked = {link.split("#")[0] for link in local}
    unlinked = [page for page in nav_pages() if f"docs/{page}" not in linked]
    assert not unlinked, f"pages of the site the README's table of contents leaves out: {unlinked}"


def test_nothing_cites_notes_users_do_not_have():
    banned = "reference" + "-spec"  # spelled apart so that this file does not match itself
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    hits = []
    for name in tracked.stdout.split():
        path = REPO / name
        if path.suffix in {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ""} and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            hits += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if banned in line]
    assert not hits, f"cite a page of docs/ instead: {hits}"
