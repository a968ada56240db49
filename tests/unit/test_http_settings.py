"""TLS settings for the VOD and object-store sessions."""

from __future__ import annotations

from pathlib import Path

from vodwatch.vod.http import HttpSettings, make_session


def test_certificates_are_verified_by_default() -> None:
    """Without settings, sessions verify TLS certificates against the system's CAs."""
    settings = HttpSettings()
    assert settings.verify is True
    session = make_session(settings)
    try:
        assert session.verify is True
    finally:
        session.close()


def test_a_ca_bundle_replaces_the_system_cas(tmp_path: Path) -> None:
    """vod.ca_bundle makes sessions verify against that bundle."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    session = make_session(HttpSettings(ca_bundle=bundle))
    try:
        assert session.verify == str(bundle)
    finally:
        session.close()


def test_verification_is_off_only_when_asked() -> None:
    """vod.verify_tls: false turns verification off, whatever the bundle."""
    assert HttpSettings(verify_tls=False, ca_bundle=Path("/x.pem")).verify is False
