"""The README's code map names every module of vodwatch (the emulator is one entry)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_is_in_the_code_map() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code_map = readme[readme.index("## Developing"):]
    package = ROOT / "vodwatch"
    missing = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        if name.startswith("emulator/") or name.endswith("/__init__.py") or (
                name == "__init__.py"):
            continue
        if f"`{name}`" not in code_map:
            missing.append(name)
    assert not missing, f"not in the README's code map: {missing}"
    assert "`vodwatch/emulator/`" in code_map
