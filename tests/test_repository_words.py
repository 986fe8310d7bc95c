"""The repository speaks only of itself: no tracked text file names an issue-tracker number, a
borrowed machine, its time allowance or the call recipe of a tool outside the project.

Machines are described as users have them ("a GPU machine without network access: Python 3.12,
its own torch with CUDA, nvcc"). This file is the one place that spells the refused phrases.
"""

import os.path as osp
import re
import subprocess

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
THIS = osp.relpath(osp.abspath(__file__), ROOT)

#: (pattern, what it refers to); matched case-insensitively, line by line
FORBIDDEN = [
    # "#21", "lzu#1": a tracker number (not an HTML entity "&#8212;", not a colour "#1f77b4")
    (r"(?<!&)#\d{1,5}(?![0-9a-f])", "a tracker number"),
    (r"\b(?:issue|ticket|pull request|PR)\s*#?\s*\d+", "a tracker reference"),
    (r"\b(?:lent|borrowed|loaned)\s+(?:\S+\s+){0,3}?(?:machine|box|gpu|device|node)s?\b",
     "a borrowed machine"),
    (r"\b(?:device|gpu|machine)\s+time\b", "a machine's time allowance"),
    (r"\btime allowance\b", "a machine's time allowance"),
    (r"\blease[sd]?\b", "a machine lease"),
    (r"\bgive" r"_back\b|\bbudget" r"_left(?:_s)?\b|\bcan_start_another\b|\bidle_release_s\b",
     "a call of a machine-lending tool"),
    (r"\btimeout_s\s*=|\bcar" r"ry\s*=\s*\[|\bfiles_(?:at|fetch)\b|\bnot_carried\b",
     "a call of a machine-lending tool"),
    (r"\brun\(\s*comm" r"and\s*=", "a call of a machine-lending tool"),
    (r"\bthe session'?s\b", "a working session"),
]
PATTERNS = [(re.compile(p, re.I), why) for p, why in FORBIDDEN]


def tracked_text_files():
    """Every git-tracked file that is text (no NUL byte, valid UTF-8), but this one."""
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    out = []
    for name in filter(None, names):
        path = osp.join(ROOT, name)
        if name == THIS or not osp.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue
        try:
            out.append((name, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return out


def offending_lines(name, text):
    """``file:line: why: the line`` for every forbidden phrase in ``text``."""
    hits = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for pattern, why in PATTERNS:
            if pattern.search(line):
                hits.append(f"{name}:{lineno}: {why}: {line.strip()[:120]}")
                break
    return hits


def test_no_tracked_file_speaks_of_outside_things():
    files = tracked_text_files()
    assert any(name == "README.md" for name, _ in files)
    hits = [h for name, text in files for h in offending_lines(name, text)]
    assert not hits, "words about things outside the project:\n" + "\n".join(hits)


@pytest.mark.parametrize("line", [
    "Evidence benchmark (#" "21), monocular 3-D task",  # split, so a grep of the tree finds none
    "as discussed in issue 20, item 3",
    "see tchittesh/lzu#1",
    "a machine like the le" "nt H200 box: Python 3.12",
    "15 minutes of device" " time in all",
    "then give" "_back",
    'run(comm' 'and="sh run.sh gpu-check", car' 'ry=["gpu_pack"], timeout_s=480)',
    "build the pack in the checkout that the session's `run` sends",
])
def test_a_planted_phrase_is_caught(line):
    assert offending_lines("planted.md", f"fine\n{line}\n") != []
    assert offending_lines("planted.md", f"fine\n{line}\n")[0].startswith("planted.md:2: ")


@pytest.mark.parametrize("line", [
    "# 2 GPUs, one node",
    "colours = {'uniform': '#1f77b4', 'lzu': '#d62728'}",
    "&#8212; an entity",
    "## Running the paper's experiments",
    "the paper's released code; the kernel released the lock",
    "a GPU machine without network access: Python 3.12, its own torch with CUDA, nvcc",
    "within a wall-clock budget (--budget-s, default 540 s)",
    "@pytest.fixture(scope=\"session\")",
    "start_new_session=True",
    "silently, talent, equivalent, please",
])
def test_legitimate_code_and_prose_pass(line):
    assert offending_lines("fine.py", line) == []
