"""The data directory on an object store (``s3://``, ``gs://``, ``abfs://``) through fsspec.

A local data directory stays a plain :class:`pathlib.Path`, so local runs pay nothing for this
module. A URL becomes a :class:`upath.UPath`; the few operations that differ live here:

* Writes: the finished file is written to a local staging file and then sent with ONE upload
  to its final key. A PUT (or a completed multipart upload) is atomic on object stores, so a
  reader sees the old object or the new one. Write-then-rename is never used there: a rename
  on S3 is a copy and a delete, not atomic.
* Listing: one recursive listing per folder, with modification times from the listing
  (``LastModified``), instead of one request per file.
* Locks: object stores have no file locks. Locks are taken on a local file named after the
  URL, so they serialise processes on one machine only.

Credentials come from the backend's own configuration (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, ``~/.aws``, ...) or VIPPS_STORAGE_OPTIONS; they are never part of a path,
so paths in logs and metadata carry none.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlparse

if TYPE_CHECKING:
    import pyarrow as pa
    from upath import UPath

DataDir: TypeAlias = "Path | UPath"

LOCAL_SCHEMES = {"", "file", "local"}
DEFAULT_OPTIONS: dict[str, Any] = {"use_listings_cache": False}
"""Never answer ``exists`` from a listing cached earlier in the process: another process (a
backfill beside the hourly sync) may have stored the file since."""


def _error(message: str) -> ValueError:
    """A :class:`~vipps_pipeline.settings.SettingsError` (imported late: settings imports this
    module), so the CLI and the resources report it like any other bad setting."""
    from vipps_pipeline.settings import SettingsError

    return SettingsError(message)


def _scheme(raw: str) -> str:
    """The URL scheme, or "" for a local path (a Windows drive letter is not a scheme)."""
    scheme = urlparse(raw).scheme if "://" in raw else ""
    return "" if len(scheme) <= 1 else scheme.lower()


def parse_storage_options(raw: str, name: str = "VIPPS_STORAGE_OPTIONS") -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:  # the value may hold S3 keys: say where, never what
        raise _error(
            f"{name} must be a JSON object: {exc.msg} at line {exc.lineno} column {exc.colno} "
            "(the value is not shown: it may hold credentials)"
        ) from None
    if not isinstance(options, dict):
        raise _error(f"{name} must be a JSON object, got {type(options).__name__}")
    return options


def parse_data_dir(
    raw: str, storage_options: Mapping[str, Any] | None = None, name: str = "VIPPS_DATA_DIR"
) -> DataDir:
    """A local path, or a URL of an fsspec backend that is installed.

    Fails here, at start-up, on an unknown scheme, a missing backend package or credentials in
    the URL, instead of at the first write of a long run.
    """
    scheme = _scheme(raw)
    if scheme in LOCAL_SCHEMES:
        return Path(raw[len("file://") :] if raw.startswith("file://") else raw)
    parsed = urlparse(raw)
    if parsed.username or parsed.password:
        raise _error(
            f"{name} must not contain credentials; use the store's own environment variables "
            "(e.g. AWS_ACCESS_KEY_ID) or VIPPS_STORAGE_OPTIONS"
        )
    if not parsed.netloc:
        raise _error(f"{name} must name a bucket or container, e.g. s3://bucket/prefix")
    import fsspec
    from upath import UPath

    try:
        fsspec.get_filesystem_class(scheme)
    except ValueError:
        raise _error(
            f"{name} has scheme {scheme!r}, which no fsspec backend knows "
            "(use a local path, s3://, gs:// or abfs://)"
        ) from None
    except ImportError as exc:
        raise _error(
            f"{name} is a {scheme}:// URL but its fsspec backend is not installed ({exc}); "
            "for s3:// install the extra: pip install 'vipps_pipeline[s3]'"
        ) from None
    return UPath(raw.rstrip("/"), **{**DEFAULT_OPTIONS, **(storage_options or {})})


def as_dir(data_dir: object) -> DataDir:
    """``data_dir`` as a path object; an object-store path is returned unchanged."""
    if isinstance(data_dir, Path):
        return data_dir
    if isinstance(data_dir, str):
        if not _scheme(data_dir):
            return Path(data_dir)
        options = parse_storage_options(os.environ.get("VIPPS_STORAGE_OPTIONS", ""))
        return parse_data_dir(data_dir, options, name="the data directory")
    if isinstance(data_dir, os.PathLike):
        return Path(data_dir)
    return data_dir  # a UPath: not os.PathLike, and Path() would drop its scheme


def is_remote(path: object) -> bool:
    return not isinstance(path, (str, os.PathLike)) and hasattr(path, "fs")


def local_mirror(path: DataDir, kind: str) -> Path:
    """A local path standing for ``path`` on the store: for staging files and lock files.

    The folder is named after a hash of the URL's parent, so two data directories on different
    buckets never share a staging folder or a lock.
    """
    if not is_remote(path):
        return Path(path)
    digest = hashlib.sha256(str(path.parent).encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"vipps_pipeline-{kind}" / digest / path.name


def upload(local: Path, path: UPath) -> None:
    """Send a finished local file to its final key in one upload (atomic on the store)."""
    path.fs.put_file(str(local), path.path)


def read_table(path: DataDir, **kwargs: Any) -> pa.Table:
    """``pq.read_table`` on either kind of path (raises FileNotFoundError when missing)."""
    import pyarrow.parquet as pq

    if is_remote(path):
        return pq.read_table(path.path, filesystem=path.fs, **kwargs)
    return pq.read_table(path, **kwargs)


def dataset(paths: list[DataDir] | DataDir, **kwargs: Any):
    """``pyarrow.dataset.dataset`` over files (or one folder) of either kind."""
    import pyarrow.dataset as ds

    first = paths[0] if isinstance(paths, list) else paths
    if not is_remote(first):
        return ds.dataset([str(p) for p in paths] if isinstance(paths, list) else paths, **kwargs)
    names = [p.path for p in paths] if isinstance(paths, list) else paths.path
    return ds.dataset(names, filesystem=first.fs, **kwargs)


def info_mtime_ns(info: Mapping[str, Any]) -> int:
    """Modification time of a listing entry, whatever the backend calls it (S3 LastModified,
    Azure last_modified, GCS updated); 0 when it gives none."""
    for key in ("LastModified", "last_modified", "updated", "mtime", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1_000_000) * 1000
        if isinstance(value, int | float):
            return int(value * 1_000_000_000)
        if isinstance(value, str) and value:
            try:
                return int(datetime.fromisoformat(value).timestamp() * 1_000_000) * 1000
            except ValueError:
                continue
    return 0


def list_files(root: UPath) -> dict[str, int]:
    """Every object under ``root`` (path relative to it -> mtime in ns): one recursive
    listing, a few requests however many files there are."""
    prefix = root.path.rstrip("/") + "/"
    found = root.fs.find(root.path, detail=True)
    return {
        name[len(prefix) :]: info_mtime_ns(info)
        for name, info in found.items()
        if name.startswith(prefix) and info.get("type", "file") == "file"
    }
