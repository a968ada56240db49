"""Hostile tests of create mode's refused names, of error files replaced in done/ and
failed/, of a grouped update VOD refuses for the video only, and of signal storms."""

from __future__ import annotations

from tests.conftest import Setup, write_bytes
from tests.end_to_end.attack_helpers import visible


def create_mode(setup: Setup, **extra: object) -> None:
    folder = {"inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
              "create_assets": True, **extra}
    setup.overrides["folders"] = [folder]
    setup.write_config()


def editor_part(setup: Setup, name: str) -> str:
    return (setup.failed / f"{name}.error.txt").read_text().partition("For the operator")[0]


def test_refused_subtitle_names_never_get_a_suggestion_with_another_title(
        setup: Setup) -> None:
    """A create-mode subtitle with a wrong language is explained by its language; the
    suggestion (if any) keeps the title as written and never invents a language, and no
    message speaks of an asset ID the name never meant to have."""
    create_mode(setup)
    names = ["Show.1.xyzw.srt", "Ep.3.1.english-uk.srt", "Show 2.1.en - Copy.srt",
             "Show.1.2.srt", " .mp4", "Tab\there.mp4"]
    for name in names:
        write_bytes(setup.inbox / name, 300)
    assert setup.cli("once").returncode == 1
    assert visible(setup.inbox) == set()
    texts = {name: editor_part(setup, name) for name in names}
    for name, text in texts.items():
        assert "asset ID" not in text.partition("Accepted names:")[0], (name, text)
        assert ".1.1.en.srt" not in text and ".3.1.1." not in text, (name, text)
    assert "'xyzw' is not a language code" in texts["Show.1.xyzw.srt"]
    assert "title" in texts["Show.1.2.srt"].partition("Accepted names:")[0]
    assert "no extension" not in texts[" .mp4"], texts[" .mp4"]
    assert "control character" in texts["Tab\there.mp4"], texts["Tab\there.mp4"]
    assert setup.emulator.assets_created() == []
