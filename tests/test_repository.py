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
# Spelled in two parts so that this file does not mention it itself.
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


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but - and _ dropped, spaces to -."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {github_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def broken_links(path: Path) -> list[str]:
    """Relative links of a Markdown page whose file or heading does not exist."""
    broken = []
    for target in MARKDOWN_LINK.findall(path.read_text()):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{path.relative_to(REPO)}: {target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    return broken


def test_every_relative_link_of_the_pages_for_readers_resolves():
    pages = [REPO / "README.md", REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    pages += sorted((REPO / "profiles").glob("*/README.md"))
    assert sum(len(MARKDOWN_LINK.findall(page.read_text())) for page in pages) > 50  # the parse finds links
    assert [link for page in pages for link in broken_links(page)] == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "REPO", tmp_path)
    (tmp_path / "a.md").write_text("# Run times (2 cores)\n[ok](#run-times-2-cores) [gone](b.md) [bad](a.md#nope)\n")
    assert broken_links(tmp_path / "a.md") == ["a.md: b.md (no such file)", "a.md: a.md#nope (no such heading)"]


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
    assert {script.name: jobs_called(script) for script in scripts if not jobs_called(script)} == {}


def jobs_called(path: Path) -> list[str]:
    """The job functions (from a job module other than runtime, which every script uses for
    its log and device) that a script calls."""
    tree = ast.parse(path.read_text(), str(path))
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnistrobust.jobs.")
        and node.module != "mnistrobust.jobs.runtime"
        for alias in node.names
    }
    return [
        node.func.id for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported
    ]


def test_a_script_that_calls_no_job_is_found(tmp_path):
    script = tmp_path / "thick.py"
    script.write_text(
        "from mnistrobust.jobs.runtime import job_for\nfrom mnistrobust.jobs.training import train_checkpoint\n"
        "with job_for(snakemake) as log:\n    log('trains by hand instead')\n"
    )
    assert jobs_called(script) == []
    script.write_text(script.read_text() + "    train_checkpoint(snakemake.input.data)\n")
    assert jobs_called(script) == ["train_checkpoint"]
