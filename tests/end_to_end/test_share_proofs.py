"""Proofs of the share contract that other end-to-end tests leave open: each file of a
grouped request has its own outcome, the state folder can fail and recover while the
daemon runs, an unreadable file ends in failed/, a metadata-only change is not a new
file, and nothing secret is shown.

Real subprocesses, real folders, real mounts (root); no mocks.
"""

from __future__ import annotations

from tests.conftest import Setup, asset_id, write_bytes


def error_text(setup: Setup, name: str) -> str:
    return (setup.failed / f"{name}.error.txt").read_text()


def no_error_file_for(setup: Setup, *names: str) -> None:
    for name in names:
        assert not (setup.failed / f"{name}.error.txt").exists(), name
        assert not (setup.failed / name).exists(), name


# ---- 1. each file has its own outcome -----------------------------------------------

def drop_three(setup: Setup, aid: str) -> tuple[str, str, str]:
    video, cover, subtitle = f"{aid}.mp4", f"{aid}.cover.png", f"{aid}.1.en.srt"
    write_bytes(setup.inbox / video, 150_000)
    write_bytes(setup.inbox / cover, 3_000)
    write_bytes(setup.inbox / subtitle, 800)
    return video, cover, subtitle


def assert_video_alone_failed(setup: Setup, aid: str, names: tuple[str, str, str],
                              state: str) -> None:
    video, cover, subtitle = names
    assert setup.names(setup.done) == sorted([cover, subtitle])
    assert setup.names(setup.failed) == [video, f"{video}.error.txt"]
    text = error_text(setup, video)
    assert video in text and "video" in text.lower() and state in text, text
    assert cover not in text and subtitle not in text
    no_error_file_for(setup, cover, subtitle)
    assert setup.emulator.read_object(aid, "cover") == (setup.done / cover).read_bytes()
    assert setup.emulator.read_object(aid, "subtitle", 1) == (setup.done / subtitle).read_bytes()
    assert setup.emulator.confirms(aid) == []
    assert list(setup.inbox.iterdir()) in ([], [setup.inbox / ".vodwatch"])


def test_a_video_refused_for_a_published_asset_fails_alone(setup: Setup) -> None:
    """VOD takes no new video for a published asset: the video goes to failed/ with an
    error file about the video and the asset's state; the cover and the subtitle dropped
    with it are sent and reach done/, with no error file of their own."""
    aid = asset_id(9101)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    names = drop_three(setup, aid)
    assert setup.cli("once").returncode == 1
    assert_video_alone_failed(setup, aid, names, "PUBLISHED")


def test_a_video_refused_with_vod_10061_fails_alone(setup: Setup) -> None:
    """VOD answers 403 VOD.10061 to the grouped request although the asset is in a state
    that takes a video (UPLOAD_FAILED: VOD-API.md §0.1): the video fails on its own, with
    the code and the state in its error file; the cover and the subtitle reach done/."""
    aid = asset_id(9102)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    names = drop_three(setup, aid)
    setup.emulator.add_fault("status", "update_asset", count=1, status=403, code="VOD.10061",
                             message="The current media asset status is not allowed to be "
                                     "updated.")
    assert setup.cli("once").returncode == 1
    assert_video_alone_failed(setup, aid, names, "UPLOAD_FAILED")
    assert "VOD.10061" in error_text(setup, names[0])
    updates = [r for r in setup.emulator.requests if r.operation == "update_asset"]
    assert len(updates) == 2  # the refused group, then the cover and subtitle alone


def test_two_videos_for_one_slot_never_fail_the_cover(setup: Setup) -> None:
    """``x.mp4`` and ``x.MOV`` both claim the asset's video: the cover dropped with them is
    delivered; one video is delivered, the other ends in failed/ with an error file about
    itself, never the cover failing as a replacement video."""
    aid = asset_id(9103)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    cover = f"{aid}.cover.png"
    videos = [f"{aid}.mp4", f"{aid}.MOV"]
    for n, video in enumerate(videos):
        write_bytes(setup.inbox / video, 120_000 + n, seed=video)
    write_bytes(setup.inbox / cover, 3_000)
    assert setup.cli("once").returncode == 1
    done, failed = setup.names(setup.done), setup.names(setup.failed)
    assert cover in done and cover not in failed
    no_error_file_for(setup, cover)
    assert setup.emulator.read_object(aid, "cover") == (setup.done / cover).read_bytes()
    delivered = [v for v in videos if v in done]
    refused = [v for v in videos if v in failed]
    assert len(delivered) == 1 and len(refused) == 1, (done, failed)
    assert failed == sorted([refused[0], f"{refused[0]}.error.txt"])
    text = error_text(setup, refused[0])
    assert refused[0] in text and cover not in text, text
    assert setup.emulator.read_object(aid, "video") == (setup.done / delivered[0]).read_bytes()
    assert setup.emulator.confirms(aid) == ["CREATED"]


def test_two_videos_and_two_covers_each_have_their_own_outcome(setup: Setup) -> None:
    """Two videos and two covers for one asset: one of each is delivered; each refused
    file's error file names that file only, and a cover's never speaks of a video."""
    aid = asset_id(9104)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    videos = [f"{aid}.mp4", f"{aid}.MOV"]
    covers = [f"{aid}.cover.png", f"{aid}.cover.jpg"]
    for n, name in enumerate(videos + covers):
        write_bytes(setup.inbox / name, 5_000 + n, seed=name)
    assert setup.cli("once").returncode == 1
    done = setup.names(setup.done)
    assert len([v for v in videos if v in done]) == 1, done
    assert len([c for c in covers if c in done]) >= 1, done
    for name in videos + covers:
        assert (name in done) != (setup.failed / name).exists(), name
        if name in done:
            no_error_file_for(setup, name)
            continue
        text = error_text(setup, name)
        others = [o for o in videos + covers if o != name]
        assert name in text and not any(o in text for o in others), text
        if name in covers:
            assert "video" not in text.lower(), text
