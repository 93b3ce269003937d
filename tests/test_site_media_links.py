"""build/media shares a stored file with art/ by hard link only when it is read-only, and
copies it where a link cannot be made."""

from __future__ import annotations

import errno
import os

import pytest

from kiln.site import output as output_module
from kiln.site.output import Output

MTIME = 1_600_000_000_123_456_789


@pytest.fixture
def art(tmp_path):
    folder = tmp_path / "art"
    folder.mkdir()
    for name, mode in (("stored.png", 0o444), ("writable.png", 0o644)):
        path = folder / name
        path.write_bytes(name.encode() * 1000)
        os.utime(path, ns=(MTIME, MTIME))
        path.chmod(mode)
    return folder


def shares(a, b) -> bool:
    return (a.stat().st_dev, a.stat().st_ino) == (b.stat().st_dev, b.stat().st_ino)


@pytest.mark.parametrize("fresh", [True, False])
def test_a_read_only_file_is_linked_a_writable_one_copied(tmp_path, art, fresh):
    output = Output(tmp_path / "build", fresh)
    for name in ("stored.png", "writable.png"):
        assert output.publish(f"media/{name}", art / name)[3] is True
    build = tmp_path / "build" / "media"
    assert shares(build / "stored.png", art / "stored.png")
    assert (build / "stored.png").stat().st_mode & 0o222 == 0
    assert not shares(build / "writable.png", art / "writable.png")
    assert (build / "writable.png").read_bytes() == (art / "writable.png").read_bytes()
    assert (build / "writable.png").stat().st_mtime_ns == MTIME
    assert [output.publish(f"media/{name}", art / name)[3] for name in ("stored.png", "writable.png")] == [False, False]


@pytest.mark.parametrize("fresh", [True, False])
def test_copy_mode_never_shares(tmp_path, art, fresh):
    output = Output(tmp_path / "build", fresh)
    output.publish("media/stored.png", art / "stored.png", "copy")
    published = tmp_path / "build" / "media" / "stored.png"
    assert not shares(published, art / "stored.png")
    assert published.stat().st_mode & 0o777 == 0o644


def test_a_republished_copy_of_a_read_only_file_becomes_a_link_and_a_link_to_a_writable_one_a_copy(tmp_path, art):
    output = Output(tmp_path / "build")
    published = tmp_path / "build" / "media" / "stored.png"
    output.publish("media/stored.png", art / "stored.png", "copy")
    assert output.publish("media/stored.png", art / "stored.png")[3] is True
    assert shares(published, art / "stored.png")
    linked = tmp_path / "build" / "media" / "writable.png"
    linked.parent.mkdir(parents=True, exist_ok=True)
    os.link(art / "writable.png", linked)  # as an older kiln's link mode left it
    assert output.publish("media/writable.png", art / "writable.png")[3] is True
    assert not shares(linked, art / "writable.png")
    assert not list((tmp_path / "build").rglob("*.kiln-tmp"))


@pytest.mark.parametrize("fresh", [True, False])
def test_across_devices_files_are_copied_and_links_not_tried_again(tmp_path, art, monkeypatch, fresh):
    tries = []

    def cross_device(source, target):
        tries.append(target)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(output_module.os, "link", cross_device)
    output = Output(tmp_path / "build", fresh)
    for name in ("a.png", "b.png"):
        name, size, mtime, written = output.publish(f"media/{name}", art / "stored.png")
        assert (size, mtime, written) == ((art / "stored.png").stat().st_size, MTIME, True)
        published = tmp_path / "build" / name
        assert published.read_bytes() == (art / "stored.png").read_bytes()
        assert not shares(published, art / "stored.png")
    assert len(tries) == 1


def test_a_file_that_cannot_be_linked_for_its_own_reason_is_copied(tmp_path, art, monkeypatch):
    def too_many(source, target):
        raise OSError(errno.EMLINK, "Too many links")

    monkeypatch.setattr(output_module.os, "link", too_many)
    output = Output(tmp_path / "build", fresh=True)
    output.publish("media/stored.png", art / "stored.png")
    assert (tmp_path / "build" / "media" / "stored.png").read_bytes() == (art / "stored.png").read_bytes()
    assert output._links  # the next file is linked if it can be


def test_what_kiln_run_stores_is_read_only_and_kiln_build_shares_it(project_dir, write_recipe):
    from click.testing import CliRunner

    from kiln.cli import cli

    write_recipe("one", 'prompt = "a {fox|hare}"\nsize = "64x64"\nsteps = 1\n')
    for command in ("run", "build"):
        result = CliRunner().invoke(cli, [command, "-C", str(project_dir)])
        assert result.exit_code == 0, result.output
    art = project_dir / "art"
    stored = [path for stage in ("original", "thumb", "thumb_small", "web") for path in (art / stage).iterdir()]
    assert len(stored) == 2 * 4
    for path in stored:
        assert path.stat().st_mode & 0o777 == 0o444
        published = project_dir / "build" / "media" / path.relative_to(art)
        assert shares(published, path)
