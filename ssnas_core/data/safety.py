"""Safe, read-only access to uploaded archives (zip files or folders) and their images.

Every check here is *fatal*: an archive that trips one is rejected whole with a
DataFormatError, because it is hostile or broken rather than merely holding a bad sample:

- member names: absolute paths, ``..`` components, backslashes, drive letters, NUL bytes,
  duplicate names, symlinks (zip entries with a symlink mode; links inside folders),
  encrypted members;
- decompression bombs: more than ``max_members`` entries, a member larger than
  ``max_member_bytes``, a total uncompressed size above ``max_total_bytes``, or a compression
  ratio above ``max_ratio`` (per member of at least ``ratio_min_bytes``, and for the total);
- a zip that cannot be read (truncated or corrupt central directory).

Reads stay within the sizes the zip declares (zipfile stops there and checks the CRC), so a
member that lies about its size fails with a CRC error instead of expanding.

``open_image`` / ``check_image`` decode image bytes with the pixel cap of ``Limits``
(``images.py``: content sniffed, not the name; errors in plain words). Failures there are
per-sample problems; the loaders record them against the sample.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import Image

from . import images
from .raw import DataFormatError

IGNORED_PREFIXES = ("__MACOSX/",)
IGNORED_NAMES = (".DS_Store",)


@dataclass(frozen=True)
class Limits:
    max_members: int = 2_000_000
    max_total_bytes: int = 32 << 30
    max_member_bytes: int = 512 << 20
    max_ratio: float = 200.0
    ratio_min_bytes: int = 1 << 20
    max_image_pixels: int = images.DEFAULT_MAX_PIXELS


DEFAULT_LIMITS = Limits()


class UnsafeArchiveError(DataFormatError):
    """The archive is hostile or broken (names, links, bombs, corrupt index): fatal for all of it."""


def check_member_name(name: str, where: str = "archive") -> str:
    """The normalised relative POSIX name, or DataFormatError if it could escape the root."""
    if not name or "\x00" in name:
        raise UnsafeArchiveError(f"{where}: empty or NUL-containing member name {name!r}")
    if "\\" in name:
        raise UnsafeArchiveError(f"{where}: member name {name!r} contains a backslash")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{where}: member name {name!r} is an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if ".." in parts:
        raise UnsafeArchiveError(f"{where}: member name {name!r} escapes the archive (path traversal)")
    if not parts:
        raise UnsafeArchiveError(f"{where}: member name {name!r} is empty")
    return "/".join(parts)


def is_zip_magic(path: Path) -> bool:
    """True when the file starts like a zip (a truncated zip still does)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def _ignored(name: str) -> bool:
    return name.startswith(IGNORED_PREFIXES) or name.rsplit("/", 1)[-1] in IGNORED_NAMES


class Archive:
    """Read-only view of a zip or a folder: ``names`` (files, normalised), ``size``, ``read``."""

    def __init__(self, label: str, sizes: dict[str, int], limits: Limits):
        self.label = label
        self.sizes = sizes
        self.limits = limits
        self.names = sorted(sizes)
        if len(sizes) > limits.max_members:
            raise UnsafeArchiveError(f"{label}: {len(sizes)} members, more than "
                                     f"{limits.max_members}")
        for name, size in sizes.items():
            if size > limits.max_member_bytes:
                raise UnsafeArchiveError(f"{label}: member {name!r} is {size} bytes, more than "
                                         f"{limits.max_member_bytes}")
        total = sum(sizes.values())
        if total > limits.max_total_bytes:
            raise UnsafeArchiveError(f"{label}: {total} bytes uncompressed, more than "
                                     f"{limits.max_total_bytes} (decompression bomb?)")

    @staticmethod
    def open(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> Archive:
        path = Path(path)
        if path.is_dir():
            return DirArchive(path, limits)
        if zipfile.is_zipfile(path) or is_zip_magic(path):
            return ZipArchive(path, limits)
        raise DataFormatError(f"{path}: neither a folder nor a zip archive")

    def exists(self, name: str) -> bool:
        return name in self.sizes

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def open_member(self, name: str) -> BinaryIO:
        """A read-only stream of the member (for decoding without holding it whole in memory)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class ZipArchive(Archive):
    """A zip file; the handle is reopened after a fork (one per process)."""

    def __init__(self, path: Path, limits: Limits):
        self.path = path
        self._zf, self._pid = None, None
        try:
            infos = self._handle().infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise UnsafeArchiveError(f"{path.name}: not a readable zip archive ({exc})") from exc
        try:
            self._scan(infos, limits)
        except DataFormatError:
            self.close()
            raise

    def _scan(self, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
        sizes, packed, self._infos = {}, 0, {}
        for info in infos:
            name = check_member_name(info.filename, self.path.name)
            if info.is_dir() or _ignored(name):
                continue
            self._check_info(info, name, limits)
            if name in sizes:
                raise UnsafeArchiveError(f"{self.path.name}: duplicate member name {name!r}")
            sizes[name], self._infos[name] = info.file_size, info
            packed += info.compress_size
        super().__init__(self.path.name, sizes, limits)
        total, ratio = sum(sizes.values()), sum(sizes.values()) / max(packed, 1)
        if total >= limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise UnsafeArchiveError(f"{self.label}: total compression ratio {ratio:.0f} above "
                                     f"{limits.max_ratio:.0f} (decompression bomb?)")

    def _check_info(self, info: zipfile.ZipInfo, name: str, limits: Limits) -> None:
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"{self.path.name}: member {name!r} is a symlink")
        if info.flag_bits & 0x1:
            raise UnsafeArchiveError(f"{self.path.name}: member {name!r} is encrypted")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise UnsafeArchiveError(f"{self.path.name}: member {name!r} has compression ratio "
                                     f"{ratio:.0f}, above {limits.max_ratio:.0f} (decompression bomb?)")

    def _handle(self) -> zipfile.ZipFile:
        if self._zf is None or self._pid != os.getpid():
            self._zf, self._pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zf

    def __getstate__(self) -> dict:  # worker processes reopen the file themselves
        return {**self.__dict__, "_zf": None, "_pid": None}

    def read(self, name: str) -> bytes:
        try:
            return self._handle().read(self._infos[name])
        except KeyError as exc:
            raise DataFormatError(f"{self.label}: no member {name!r}") from exc
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise DataFormatError(f"{self.label}: member {name!r} is corrupt ({exc})") from exc

    def open_member(self, name: str) -> BinaryIO:
        if name not in self._infos:
            raise DataFormatError(f"{self.label}: no member {name!r}")
        try:
            return self._handle().open(self._infos[name])  # seekable; CRC checked at its end
        except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
            raise DataFormatError(f"{self.label}: member {name!r} is corrupt ({exc})") from exc

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()
            self._zf = None


class DirArchive(Archive):
    """A folder; symlinks anywhere inside are rejected rather than followed."""

    def __init__(self, root: Path, limits: Limits):
        self.root = root
        sizes = {}
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            for entry in dirnames + filenames:
                full = Path(dirpath, entry)
                if full.is_symlink():
                    raise UnsafeArchiveError(f"{root.name}: {full.relative_to(root)} is a symlink")
            for entry in filenames:
                full = Path(dirpath, entry)
                rel = full.relative_to(root).as_posix()
                st = full.stat()
                if not stat.S_ISREG(st.st_mode):
                    raise UnsafeArchiveError(f"{root.name}: {rel} is not a regular file")
                if not _ignored(rel):
                    sizes[rel] = st.st_size
        super().__init__(root.name, sizes, limits)

    def read(self, name: str) -> bytes:
        if name not in self.sizes:
            raise DataFormatError(f"{self.label}: no member {name!r}")
        path = self.root / check_member_name(name, self.label)
        if path.is_symlink():
            raise UnsafeArchiveError(f"{self.label}: {name!r} is a symlink")
        with open(path, "rb") as f:
            data = f.read(self.limits.max_member_bytes + 1)
        if len(data) > self.limits.max_member_bytes:
            raise UnsafeArchiveError(f"{self.label}: member {name!r} grew beyond the size limit")
        return data

    def open_member(self, name: str) -> BinaryIO:
        if name not in self.sizes:
            raise DataFormatError(f"{self.label}: no member {name!r}")
        path = self.root / check_member_name(name, self.label)
        if path.is_symlink():
            raise UnsafeArchiveError(f"{self.label}: {name!r} is a symlink")
        return open(path, "rb")  # noqa: SIM115 - the caller closes it


def load_from_archive(path: str | os.PathLike, build, *, seed: int, deep: bool, limits: Limits):
    """Open ``path`` as an Archive and ``build(archive, path, seed)`` a raw dataset from it; with
    ``deep`` decode every sample up front. The archive is closed if building fails."""
    archive = Archive.open(Path(path), limits)
    try:
        ds = build(archive, path, seed)
        return ds.validate_all() if deep else ds
    except BaseException:
        archive.close()
        raise


def open_image(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Image.Image:
    """Decode image bytes to an RGB PIL image; ImageError (a DataFormatError) if unreadable or
    above ``limits.max_image_pixels`` (see ``images``)."""
    return images.open_image(data, limits.max_image_pixels)


def check_image(data: bytes | BinaryIO, limits: Limits = DEFAULT_LIMITS) -> str:
    """Prove image bytes (or a stream) decode, cheaply (``images.check_image``); returns the
    format name."""
    return images.check_image(data, limits.max_image_pixels)
