"""The repository's own rules: a README a user reads through, no references to files that
left the repository or to folders outside it, a docstring on every rule, and workflow
scripts that call the job layer only."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

README_LIMIT_BYTES = 15_000
# Spelled in two parts so that this file does not mention them itself.
GONE_DESIGN_FILE = "DESIGN" + ".md"  # now docs/design.md
OUTSIDE_FOLDER = "../" + "shared"  # the maintainers' data copies beside the checkout
# Where naming the outside folder is honest: the test and CI set-up that point at the data copies.
MAY_NAME_OUTSIDE_FOLDER = ("tests/", ".ci/")


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    return [name for name in result.stdout.split("\0") if name and (REPO / name).is_file()]


def files_mentioning(text: str, names: list[str]) -> list[str]:
    needle = text.encode()
    return [name for name in names if needle in (REPO / name).read_bytes()]


def test_the_readme_is_short_enough_to_read_through():
    size = (REPO / "README.md").stat().st_size
    assert size < README_LIMIT_BYTES, f"README.md is {size:,} bytes; the record belongs in docs/"


def test_no_tracked_file_mentions_the_old_design_file():
    assert files_mentioning(GONE_DESIGN_FILE, tracked_files()) == []


def test_only_test_and_ci_set_up_name_the_folder_outside_the_repository():
    outside = [name for name in tracked_files() if not name.startswith(MAY_NAME_OUTSIDE_FOLDER)]
    assert files_mentioning(OUTSIDE_FOLDER, outside) == []
    # The Makefile leaves the data folder to the user (empty: download).
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^DATA_DIR \?=[ \t]*$", makefile, re.MULTILINE), "Makefile's DATA_DIR default is not empty"


RULE = re.compile(r"^[ \t]*rule[ \t]*(\w*)[ \t]*:[ \t]*$")


def rules_without_docstring(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    missing = []
    for number, line in enumerate(lines):
        match = RULE.match(line)
        if not match:
            continue
        following = next((text.strip() for text in lines[number + 1 :] if text.strip()), "")
        if not following.startswith('"""'):
            missing.append(f"{path.relative_to(REPO)}:{number + 1} rule {match.group(1) or '(anonymous)'}")
    return missing


def test_every_rule_has_a_docstring():
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    rules = [line for path in files for line in path.read_text().splitlines() if RULE.match(line)]
    assert len(rules) >= 20  # the parse found the rules (they are not written some other way)
    assert [missing for path in files for missing in rules_without_docstring(path)] == []


def script_imports(path: Path) -> list[str]:
    """Every module a script imports (relative imports as ``.name``)."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.append("." * node.level + (node.module or ""))
    return modules


def test_workflow_scripts_import_only_from_the_job_layer():
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    assert scripts
    outside = {
        script.name: module
        for script in scripts
        for module in script_imports(script)
        if not (module == "mnistrobust.jobs" or module.startswith("mnistrobust.jobs."))
    }
    assert outside == {}
    assert all(script_imports(script) for script in scripts)  # every script calls a job
