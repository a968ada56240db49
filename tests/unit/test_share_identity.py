"""The share is recognised: an empty mount point is never mistaken for it."""

from __future__ import annotations

from pathlib import Path

from vodwatch.share import ShareIdentity


def _tables(tmp_path: Path, fstab: str, mounts: str) -> tuple[str, str]:
    (tmp_path / "fstab").write_text(fstab)
    (tmp_path / "mounts").write_text(mounts)
    return str(tmp_path / "fstab"), str(tmp_path / "mounts")


def test_a_first_start_on_an_fstab_mount_point_that_is_not_mounted_is_unavailable(
        tmp_path: Path) -> None:
    """With no identity known yet, an inbox under an fstab entry that is not mounted waits."""
    share = tmp_path / "share"
    inbox = share / "inbox"
    inbox.mkdir(parents=True)
    fstab, mounts = _tables(tmp_path, f"//nas/media {share} cifs defaults 0 0\n",
                            "/dev/sda1 / ext4 rw 0 0\n")
    problem, ident = ShareIdentity(inbox, fstab, mounts).check(None)
    assert problem is not None and "not mounted" in problem and str(share) in problem
    assert ident is None
    assert not (inbox / ".vodwatch").exists()


def test_a_mounted_fstab_entry_is_the_share(tmp_path: Path) -> None:
    """The same fstab entry, mounted, is fine: the caller may create the identity."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fstab, mounts = _tables(tmp_path, f"//nas/media {inbox} cifs defaults 0 0\n",
                            f"//nas/media {inbox} cifs rw 0 0\n")
    assert ShareIdentity(inbox, fstab, mounts).check(None) == (None, None)


def test_a_known_share_whose_identity_is_missing_on_another_device_is_not_mounted(
        tmp_path: Path) -> None:
    """Known identity, hidden folder gone and another device: unmounted, never 'all vanished'."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    dev = inbox.stat().st_dev
    problem, _ = ShareIdentity(inbox).check({"id": "abc", "dev": dev + 1})
    assert problem is not None and "not mounted" in problem


def test_a_recreated_inbox_on_the_same_device_gets_a_new_identity(tmp_path: Path) -> None:
    """Known identity missing on the same device: a recreated inbox, usable again."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / ".vodwatch").mkdir()
    ident = ShareIdentity(inbox)
    assert ident.check({"id": "abc", "dev": inbox.stat().st_dev}) == (None, None)
    created = ident.create()
    assert ident.check(created) == (None, created)


def test_an_empty_folder_is_not_taken_for_a_share_the_journal_has_work_for(
        tmp_path: Path) -> None:
    """No identity known yet, but unfinished work in the journal (an upgrade from 0.1, a
    restart) and an empty folder with nothing mounted on it: the share is not mounted. No
    identity is created there; the sentence says how to carry on with a new, empty share."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fstab, mounts = _tables(tmp_path, "", "/dev/sda1 / ext4 rw 0 0\n")
    problem, ident = ShareIdentity(inbox, fstab, mounts).check(None, expected=True)
    assert problem is not None and "seems not mounted" in problem and ".vodwatch" in problem
    assert ident is None and list(inbox.iterdir()) == []
    (inbox / ".vodwatch").mkdir()  # a person says: this is the share, new and empty
    assert ShareIdentity(inbox, fstab, mounts).check(None, expected=True) == (None, None)


def test_an_empty_folder_without_work_or_with_a_mount_on_it_is_a_new_share(
        tmp_path: Path) -> None:
    """A first start with nothing in the journal, or an empty share mounted on the inbox,
    is a share to use: the caller may create the id. With work in the journal, a folder
    holding files but not the hidden folder the work left is a mount point with a note
    in it, not the share; with the hidden folder it is the share."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fstab, mounts = _tables(tmp_path, "", f"/dev/sda1 / ext4 rw 0 0\nnas:/m {inbox} nfs rw 0 0\n")
    assert ShareIdentity(inbox, fstab, mounts).check(None, expected=False) == (None, None)
    assert ShareIdentity(inbox, fstab, mounts).check(None, expected=True) == (None, None)
    fstab, mounts = _tables(tmp_path, "", "/dev/sda1 / ext4 rw 0 0\n")
    (inbox / "NAS NOT MOUNTED.txt").write_bytes(b"x")
    problem, ident = ShareIdentity(inbox, fstab, mounts).check(None, expected=True)
    assert problem is not None and "seems not mounted" in problem and ident is None
    assert ShareIdentity(inbox, fstab, mounts).check(None, expected=False) == (None, None)
    (inbox / ".vodwatch").mkdir()
    assert ShareIdentity(inbox, fstab, mounts).check(None, expected=True) == (None, None)


def test_a_first_start_on_a_systemd_mount_unit_that_is_not_mounted_is_unavailable(
        tmp_path: Path) -> None:
    """A share mounted by a systemd .mount unit (no /etc/fstab line): not mounted at the
    very first start, the inbox is unavailable, and nothing is created in it."""
    share = tmp_path / "media share"
    share.mkdir()
    units = tmp_path / "units"
    units.mkdir()
    (units / "srv-media.mount").write_text(
        f"[Unit]\nDescription=media\n\n[Mount]\nWhat=//nas/media\nWhere={share}\nType=cifs\n")
    (units / "other.service").write_text(f"[Service]\nWhere={tmp_path}\n")
    fstab, mounts = _tables(tmp_path, "", "/dev/sda1 / ext4 rw 0 0\n")
    identity = ShareIdentity(share, fstab, mounts, str(units))
    problem, ident = identity.check(None)
    assert problem is not None and "not mounted" in problem and str(share) in problem
    assert ident is None and list(share.iterdir()) == []
    mounted = tmp_path / "mounts-now"
    escaped = str(share).replace(" ", "\\040")  # as the kernel writes it
    mounted.write_text(f"/dev/sda1 / ext4 rw 0 0\n//nas/media {escaped} cifs rw 0 0\n")
    assert ShareIdentity(share, fstab, str(mounted), str(units)).check(None) == (None, None)
