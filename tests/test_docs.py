"""The documentation holds together: every relative link in README.md and docs/ resolves (anchors
against the target's headings, slugged as GitHub does), and every `sh run.sh <command>` it names
is a command or experiment that `sh run.sh --help` lists; every repository path they name (in
links and code spans: ``lzu/...py``, ``tools/...py``, bare module files beside their folder)
exists, but for a short allow-list of upstream and example paths."""

import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
RUN_SH = re.compile(r"\bsh run\.sh[ \t]+([^\s`]+)(?:[ \t]+([^\s`]+))?")  # a ` ends it
PLACEHOLDER = ("<", "...", "…", "COMMAND", "$")


def markdown_files():
    """README.md, docs/*.md and the installer's README, repository-relative."""
    files = ["README.md", "mmdetection3d/README.md"]
    files += sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, "docs", "*.md")))
    return files


def read(rel):
    with open(osp.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def prose(text):
    """The text without fenced code blocks (commands and code are not links)."""
    return FENCE.sub("", text)


def slug(heading):
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation other than
    ``-`` and ``_`` removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(rel):
    """Every anchor of a markdown file (a repeated heading gets -1, -2, ... as on GitHub)."""
    seen, out = {}, set()
    for heading in HEADING.findall(prose(read(rel))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(rel):
    """(line, target) of every markdown link and image outside code."""
    text = prose(read(rel))
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            out.append((lineno, target))
    return out


def broken_links(rel):
    """``file: target (why)`` for every relative link of ``rel`` that does not resolve."""
    broken = []
    for _, target in links(rel):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = osp.normpath(osp.join(osp.dirname(rel), path)) if path else rel
        if not osp.exists(osp.join(ROOT, dest)):
            broken.append(f"{rel}: {target} ({dest} does not exist)")
        elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
            broken.append(f"{rel}: {target} (no heading #{anchor} in {dest})")
    return broken


def test_every_relative_link_resolves():
    broken = [b for rel in markdown_files() for b in broken_links(rel)]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_a_broken_link_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## Two words\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md) [ok](docs/a.md#two-words) ![img](docs/gone.png) [x](docs/a.md#nope)\n"
        "`[code](not/checked.md)`\n\n```\n[fenced](not/checked.md)\n```\n")
    assert broken_links("README.md") == [
        "README.md: docs/gone.png (docs/gone.png does not exist)",
        "README.md: docs/a.md#nope (no heading #nope in docs/a.md)"]


def test_github_slugs():
    assert slug("The five methods: uniform, FOVEA and LZU, fixed and adaptive") == \
        "the-five-methods-uniform-fovea-and-lzu-fixed-and-adaptive"
    assert slug("The demo's five methods") == "the-demos-five-methods"
    assert slug("FOVEA on 2-D detection") == "fovea-on-2-d-detection"
    assert slug("`lzu_features.py` and [the docs](x.md)") == "lzu_featurespy-and-the-docs"


@pytest.fixture(scope="module")
def run_sh_help():
    """(commands, subcommands, experiments) as `sh run.sh --help` lists them."""
    out = subprocess.run(["sh", "run.sh", "--help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    commands, subcommands, experiments, section = set(), set(), set(), None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            section = line.rstrip(":")
            continue
        first = re.match(r"^  (\S+)", line)
        if section == "commands" and first:
            commands.add(first.group(1))
            sub = re.match(r"^  (\S+) ([a-z0-9]+)(?:\s{2,}|$)", line)  # `demo det2d   ...`
            if sub:
                subcommands.add(sub.groups())
        elif section == "experiments" and first:
            experiments.add(first.group(1))
    assert {"test", "demo", "bench", "--help"} <= commands and experiments
    return commands, subcommands, experiments


def run_sh_mentions(rel):
    """(line, command, argument or None) of every `sh run.sh ...` in ``rel``, code included."""
    out = []
    for lineno, line in enumerate(read(rel).splitlines(), 1):
        for cmd, arg in RUN_SH.findall(line):
            if any(p in cmd for p in PLACEHOLDER):
                continue
            cmd = cmd.rstrip("'\",;:).")
            arg = arg.rstrip("'\",;:).") if arg else None
            out.append((lineno, cmd, arg))
    return out


def unknown_run_sh(rel, help_lists):
    commands, subcommands, experiments = help_lists
    with_sub = {c for c, _ in subcommands}
    bad = []
    for lineno, cmd, arg in run_sh_mentions(rel):
        if cmd in commands:
            if cmd in with_sub and arg and re.fullmatch(r"[a-z0-9]+", arg) \
                    and (cmd, arg) not in subcommands:
                bad.append(f"{rel}:{lineno}: sh run.sh {cmd} {arg}")
        elif cmd not in experiments:
            bad.append(f"{rel}:{lineno}: sh run.sh {cmd}")
    return bad


def test_every_run_sh_command_is_listed_by_help(run_sh_help):
    bad = [b for rel in markdown_files() for b in unknown_run_sh(rel, run_sh_help)]
    assert not bad, "commands `sh run.sh --help` does not list:\n" + "\n".join(bad)
    assert any(cmd == "lzu_fcos3d_0.75" for _, cmd, _ in run_sh_mentions("README.md"))


def test_an_unknown_run_sh_command_is_caught(run_sh_help, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    (tmp_path / "README.md").write_text(
        "`sh run.sh demo det2d` `sh run.sh demo --fresh` `sh run.sh <experiment>`\n"
        "sh run.sh lzu_fcos3d_0.75. `sh run.sh seg/...` sh run.sh deploy\n"
        "sh run.sh demo det3d\n")
    assert unknown_run_sh("README.md", run_sh_help) == [
        "README.md:2: sh run.sh deploy", "README.md:3: sh run.sh demo det3d"]


def test_readme_is_a_front_door():
    text = read("README.md")
    assert len(text.splitlines()) <= 300
    order = ["## Status", "## Set-up", "## Quick start", "## Results",
             "## Running the paper's experiments", "## LZU on your own model", "## Layout",
             "## Licence"]
    positions = [text.index(h) for h in order]
    assert positions == sorted(positions), "README sections out of a newcomer's order"
    assert "@inproceedings{thavamani2023learning" in text


def test_readme_evidence_figures_are_the_reports():
    """The README's short evidence table copies docs/evidence.md: each interval is there."""
    readme, report = read("README.md"), read("docs/evidence.md")
    intervals = re.findall(r"[+-]\d+\.\d+ \[[+-]\d+\.\d+, [+-]\d+\.\d+\]", readme)
    assert len(intervals) >= 6
    missing = [i for i in intervals if i not in report]
    assert not missing, f"README intervals not in docs/evidence.md: {missing}"


def test_readme_evidence_table_is_made_from_the_json():
    """README's short evidence table is the one tools/evidence.py makes from docs/evidence.json
    (`python tools/evidence.py --from-json --readme-table` prints it), so a rerun cannot leave
    it stale."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("_evidence_tool",
                                                  osp.join(ROOT, "tools", "evidence.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    table = tool.readme_table(json.loads(read("docs/evidence.json")))
    assert table in read("README.md"), (
        "README.md's evidence table differs from docs/evidence.json: paste the output of "
        "`python tools/evidence.py --from-json --readme-table`")


# ------------------------------------------------------------ repository paths named in the docs

#: A repository path: a file under one of the project's folders (``lzu/core/zoom.py``).
REPO_PATH = re.compile(
    r"(?<![\w./~-])((?:lzu|tools|tests|configs|docs|mmdetection3d)/[\w./-]*[\w])")
#: A module file named without its folder (``zoom.py``), resolved against a folder the same
#: line names (``lzu/core/``), else anywhere in the tree.
BARE_FILE = re.compile(r"(?<![\w./*{}~-])([\w-]+\.py)(?![\w*{}])")
LINK_TARGET = re.compile(r"\]\(\s*([^)\s#]+)")
FOLDER = re.compile(r"`((?:lzu|tools|tests|configs|mmdetection3d)(?:/[\w-]+)*/)`")
SUBFOLDER = re.compile(r"`([\w-]+/)`")

#: Paths the docs may name that are not in this tree, each with its reason.
ALLOWED_PATHS = {
    "tools/dataset_converters/cityscapes.py": "mmseg's converter, in mmseg's repository",
}


def named_paths(rel):
    """(line, path, folders) of every repository path in the links and code spans of ``rel``:
    link targets, folder paths (``lzu/core/zoom.py``; ``folders`` is None) and bare module
    files (``zoom.py``; ``folders`` are those the same line names, with the subfolders it
    names below them). Globs and placeholders (``*``, ``{``, ``<``) are not paths."""
    out = []
    for lineno, line in enumerate(read(rel).splitlines(), 1):
        for target in LINK_TARGET.findall(INLINE_CODE.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                out.append((lineno, target, None))
        folders = FOLDER.findall(line)
        folders += [f + s for f in folders for s in SUBFOLDER.findall(line)]
        for span in INLINE_CODE.findall(line):
            span = span.strip("`")
            if re.search(r"[*{}<>$]|\.\.\.|…", span):
                continue
            for path in REPO_PATH.findall(span):
                out.append((lineno, path, None))
            for name in BARE_FILE.findall(REPO_PATH.sub("", span)):
                out.append((lineno, name, folders))
    return out


def tree_basenames():
    names = set()
    for _, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in (
            "work_dirs", "data", "__pycache__", "gpu_pack") and not d.endswith(".egg-info")]
        names.update(filenames)
    return names


def missing_paths(rel, basenames=None):
    """``file:line: path`` for every repository path named in ``rel`` that is not in the tree
    (paths in links are relative to ``rel``'s folder, others to the repository root)."""
    basenames = tree_basenames() if basenames is None else basenames
    missing = []
    for lineno, path, folders in named_paths(rel):
        if path in ALLOWED_PATHS:
            continue
        if folders is None:
            candidates = [path, osp.normpath(osp.join(osp.dirname(rel), path))]
            found = any(osp.exists(osp.join(ROOT, c)) for c in candidates)
        elif folders:
            found = any(osp.exists(osp.join(ROOT, f, path)) for f in folders)
        else:
            found = path in basenames
        if not found:
            missing.append(f"{rel}:{lineno}: {path}")
    return missing


def test_every_repository_path_in_the_docs_exists():
    basenames = tree_basenames()
    missing = [m for rel in markdown_files() for m in missing_paths(rel, basenames)]
    assert not missing, ("paths the docs name that the tree lacks (fix the doc, or add an "
                         "upstream or example path to ALLOWED_PATHS with its reason):\n"
                         + "\n".join(missing))


def test_a_stale_path_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    (tmp_path / "lzu" / "core").mkdir(parents=True)
    (tmp_path / "lzu" / "core" / "zoom.py").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "`lzu/core/zoom.py` [z](../lzu/core/zoom.py) `lzu/core/unzoom.py`\n"
        "| `lzu/core/` | `zoom.py`, `gone.py` |\n"
        "`zoom.py` `lost.py` `configs/fcos3d_*.py` `tools/<name>.py`\n"
        "[x](../lzu/openmmlab/lzu_detector.py) `tools/dataset_converters/cityscapes.py`\n")
    assert missing_paths("docs/a.md") == [
        "docs/a.md:1: lzu/core/unzoom.py", "docs/a.md:2: gone.py", "docs/a.md:3: lost.py",
        "docs/a.md:4: ../lzu/openmmlab/lzu_detector.py"]


def test_the_allow_list_is_in_use():
    """Every allowed path is still named by some doc (a stale entry would hide nothing)."""
    named = {path for rel in markdown_files() for _, path, _ in named_paths(rel)}
    unused = sorted(set(ALLOWED_PATHS) - named)
    assert not unused, f"ALLOWED_PATHS entries no doc names: {unused}"
