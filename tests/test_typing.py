"""mypy's strictness only tightens (docs/architecture.md, "Type checking"): the flags on today
stay on, no error code is switched off for everything, untyped libraries are named one by one,
and every room is checked, including one added later."""

import re
import tomllib

from tests.conftest import ROOT

MYPY = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]

# On today. A flag joins this list in the commit that turns it on; none ever leaves it.
FLAGS_ON = (
    "check_untyped_defs",
    "no_implicit_optional",
    "strict_equality",
    "extra_checks",
    "warn_unused_ignores",
    "warn_redundant_casts",
    "warn_unused_configs",
    "warn_unreachable",
    "local_partial_types",
)
ERROR_CODES_ON = (
    "deprecated",
    "exhaustive-match",
    "ignore-without-code",
    "redundant-self",
    "truthy-iterable",
    "unused-awaitable",
)


def test_the_flags_on_today_stay_on():
    assert [flag for flag in FLAGS_ON if MYPY.get(flag) is not True] == []
    assert [code for code in ERROR_CODES_ON if code not in MYPY["enable_error_code"]] == []


def test_no_error_code_or_module_is_switched_off_wholesale():
    overrides = MYPY.get("overrides", [])
    for settings in (MYPY, *overrides):
        assert "disable_error_code" not in settings
        assert not settings.get("ignore_errors")
    assert "ignore_missing_imports" not in MYPY and "follow_imports" not in MYPY
    for override in overrides:
        modules = override["module"]
        modules = [modules] if isinstance(modules, str) else modules
        assert "*" not in modules
        # The only project code an override names: the tests, not checked yet, followed
        # silently where the benchmarks import them.
        own = [m for m in modules if (ROOT / m.split(".")[0]).is_dir()]
        if own:
            assert override == {"module": ["tests.*"], "follow_imports": "silent"}


def test_every_room_is_checked():
    rooms = sorted(path.parent.name for path in ROOT.glob("*/apps.py"))
    assert [room for room in rooms if room not in MYPY["files"]] == []


def test_make_lint_and_make_test_run_mypy():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lint", "test"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert recipe and "$(VENV)/bin/mypy" in recipe.group(1), target
