import io
import os
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from ssnas_core.data.raw import DataFormatError
from ssnas_core.data.safety import Archive, Limits, UnsafeArchiveError, check_member_name, open_image
from tests.core.data.dataset_factories import image_bytes, write_zip


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil", "/etc/passwd", "C:/x.txt",
                                  "a\\..\\b", "a\x00b", ""])
def test_hostile_member_names_are_rejected(name):
    with pytest.raises(UnsafeArchiveError, match="member name"):
        check_member_name(name)


def test_benign_member_names_are_normalised():
    assert check_member_name("./a/b.json") == "a/b.json"
    assert check_member_name("dataset/0001.jpeg") == "dataset/0001.jpeg"


@pytest.mark.parametrize("name", ["../evil.json", "/abs/evil.json"])
def test_zip_with_traversal_or_absolute_member_is_fatal(tmp_path, name):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.txt", b"x")
        z.writestr(zipfile.ZipInfo(name), b"y")  # ZipInfo keeps the name as given
    with pytest.raises(UnsafeArchiveError, match=r"evil\.json"):
        Archive.open(path)


def test_zip_symlink_member_is_fatal(tmp_path):
    path = tmp_path / "a.zip"
    info = zipfile.ZipInfo("dataset/link.jpeg")
    info.create_system = 3
    info.external_attr = (0o120777) << 16
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        Archive.open(path)


def test_zip_duplicate_member_is_fatal(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z, pytest.warns(UserWarning):
        z.writestr("x.json", b"1")
        z.writestr("x.json", b"2")
    with pytest.raises(UnsafeArchiveError, match="duplicate"):
        Archive.open(path)


def test_compression_ratio_bomb_is_fatal(tmp_path):
    path = write_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(8 << 20)})
    with pytest.raises(UnsafeArchiveError, match="compression ratio"):
        Archive.open(path)


def test_total_and_member_size_caps(tmp_path):
    rng = np.random.default_rng(0)
    members = {f"{i}.bin": rng.bytes(4000) for i in range(5)}
    path = write_zip(tmp_path / "a.zip", members)
    assert len(Archive.open(path).names) == 5
    with pytest.raises(UnsafeArchiveError, match="bytes uncompressed"):
        Archive.open(path, Limits(max_total_bytes=10_000))
    with pytest.raises(UnsafeArchiveError, match="more than 3000"):
        Archive.open(path, Limits(max_member_bytes=3000))
    with pytest.raises(UnsafeArchiveError, match="members"):
        Archive.open(path, Limits(max_members=4))


def test_member_lying_about_its_size_fails_on_crc(tmp_path):
    path = write_zip(tmp_path / "a.zip", {"big.bin": bytes(5000)})
    data = bytearray(path.read_bytes())
    small = struct.pack("<I", 10)
    data[22:26] = small  # local header: uncompressed size
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = small  # central directory: uncompressed size
    path.write_bytes(bytes(data))
    archive = Archive.open(path)
    assert archive.sizes["big.bin"] == 10
    with pytest.raises(DataFormatError, match="corrupt"):
        archive.read("big.bin")


def test_encrypted_member_is_fatal(tmp_path):
    path = write_zip(tmp_path / "a.zip", {"secret.json": b"{}"})
    data = bytearray(path.read_bytes())
    data[6] |= 1  # local header: general purpose flag bit 0 (encrypted)
    data[data.index(b"PK\x01\x02") + 8] |= 1  # central directory entry: the same flag
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchiveError, match="encrypted"):
        Archive.open(path)


def test_truncated_zip_is_fatal(tmp_path):
    path = write_zip(tmp_path / "a.zip", {"a.txt": os.urandom(2000)})
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(UnsafeArchiveError, match="not a readable zip"):
        Archive.open(path)


def test_folder_with_symlink_is_fatal(tmp_path):
    root = tmp_path / "up"
    root.mkdir()
    (root / "a.txt").write_text("x")
    (root / "link").symlink_to("/etc")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        Archive.open(root)


def test_folder_archive_reads_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_bytes(b"hello")
    archive = Archive.open(tmp_path)
    assert archive.names == ["d/x.txt"]
    assert archive.read("d/x.txt") == b"hello"
    with pytest.raises(DataFormatError, match="no member"):
        archive.read("../etc/passwd")


def test_macos_metadata_is_ignored(tmp_path):
    path = write_zip(tmp_path / "a.zip", {"__MACOSX/._x": b"junk", "x.txt": b"1",
                                          "d/.DS_Store": b"junk"})
    assert Archive.open(path).names == ["x.txt"]


def test_open_image_decodes_and_caps_pixels():
    rng = np.random.default_rng(0)
    im = open_image(image_bytes(rng, (20, 30), "PNG"))
    assert im.mode == "RGB" and im.size == (20, 30)
    buf = io.BytesIO()
    Image.new("L", (2000, 2000)).save(buf, format="PNG")
    with pytest.raises(DataFormatError, match="2000x2000 pixels"):
        open_image(buf.getvalue(), Limits(max_image_pixels=1_000_000))


def test_open_image_rejects_truncated_and_garbage():
    data = image_bytes(np.random.default_rng(0), (64, 64), "JPEG")
    with pytest.raises(DataFormatError, match="not an image Pillow can read: the image data is truncated"):
        open_image(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="not an image Pillow can read: it is a text file"):
        open_image(b"not an image at all")
