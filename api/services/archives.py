"""Safe streamed extraction of an uploaded zip (a zipped feature folder)."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from ssnas_core.names import FOLDER_FORMATS

from ..errors import Invalid, PayloadTooLarge


def _member_name(info: zipfile.ZipInfo) -> str:
    from ssnas_core.data.safety import check_member_name

    return check_member_name(info.filename, "upload")




def zipped_folder_format(path: Path) -> tuple[str, str] | None:
    """(format, top folder or "") when ``path`` is a zip of a features or avmnist folder."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    for fmt, markers in FOLDER_FORMATS.items():
        tops = {"" if "/" not in n else n.split("/", 1)[0] + "/" for n in names}
        for top in tops:
            if all(top + m in names for m in markers):
                return fmt, top.rstrip("/")
    return None


def extract_zip(path: Path, out_dir: Path, limit: int, top: str = "") -> Path:
    """Extract ``path`` into ``out_dir`` in 1 MiB pieces; returns ``out_dir / top``.

    Refuses links, encrypted members, unsafe names and more than ``limit`` bytes in total
    (counted while writing, so a member lying about its size cannot get past it).
    """
    written = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = _member_name(info)
            if stat.S_ISLNK(info.external_attr >> 16) or info.flag_bits & 0x1:
                raise Invalid(f"invalid dataset: zip member {name!r} is a link or encrypted")
            target = out_dir / name
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                while data := src.read(1 << 20):
                    written += len(data)
                    if written > limit:
                        raise PayloadTooLarge(f"extracted dataset larger than {limit} bytes")
                    dst.write(data)
    return out_dir / top if top else out_dir
