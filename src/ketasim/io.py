"""Output files that are either complete or absent.

Every file ketasim writes (CSV and its provenance, Parquet, JSON, HTML, PNG, parameter sets) goes through
:func:`atomic_path` / :func:`atomic_write`: the content is written to a hidden temporary file in the same
folder (same extension, so format inference still works), flushed to disk, and renamed over the target only when complete (``os.replace`` is atomic on POSIX
and Windows). Ctrl-C, an exception or a full disk leave the previous file (or none) and remove the temporary
file; SIGKILL can leave a ``.<name>.*.tmp<ext>`` file behind but never a truncated target. OS errors become one
:class:`~ketasim.errors.OutputError` line naming the path.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import stat
import tempfile
from pathlib import Path

from .errors import OutputError, OutputPathError, argument

#: The output paths of one command-line run and the options that named them ({absolute path: '--csv'}), filled by
#: :func:`check_target` inside :func:`output_fields` (``cli.main``): an error found while writing (a full disk)
#: names the option as the up-front checks do ('--csv: out.csv: cannot write (No space left on device)').
_OUTPUT_FIELDS: contextvars.ContextVar = contextvars.ContextVar("ketasim_output_fields", default=None)


@contextlib.contextmanager
def output_fields(on: bool = True):
    """Within the block, the options that :func:`check_target` is given are remembered for write-time errors
    (``on=False``: not, e.g. in the dashboard ``ketasim serve`` runs, whose downloads are not the command's
    options and whose paths would pile up for the server's life)."""
    token = _OUTPUT_FIELDS.set({} if on else None)
    try:
        yield
    finally:
        _OUTPUT_FIELDS.reset(token)


def _remember_field(path: Path, field: str | None) -> None:
    fields = _OUTPUT_FIELDS.get()
    if fields is not None and field:
        for p in (path, final_path(path)):
            fields.setdefault(os.path.abspath(p), field)


def field_of(path) -> str | None:
    """The option that named ``path`` or the file it sits beside (``out.csv.provenance.json``: ``--csv``) in this
    command-line run; None outside one or for a path no option named."""
    fields = _OUTPUT_FIELDS.get()
    if not fields or path is None:
        return None
    p = os.path.abspath(path)
    if p in fields:
        return fields[p]
    return next((f for q, f in fields.items() if p.startswith(q + ".")), None)


def write_error(path, e: OSError, field: str | None = None) -> OutputError:
    """One line for an OS error while writing ``path``, naming ``field`` (the option or argument that gave it) or,
    without one, the option that gave it in this command-line run when known."""
    field = field or field_of(path)
    return OutputError(f"{field + ': ' if field else ''}{path}: cannot write ({e.strerror or e})")


_oserror = write_error


def _check_target(path: Path, field: str | None = None) -> None:
    """``field``: the option or argument that named ``path`` ('--json'), said first (the README: errors name the
    option or field; '/tmp/dir: is a directory' named only the path)."""
    where = f"{field}: {path}" if field else f"{path}"
    if path.is_dir():
        raise OutputPathError(f"{where}: is a directory; give a file name")
    try:
        st = os.stat(path)          # follows links: /dev/stdout is the terminal, a pipe or a redirected file
    except OSError:
        st = None
    # the file is written beside the target and renamed over it: over /dev/null or /dev/stdout that would replace
    # the device or the link itself (when run as root) or fail after the whole run
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{where}: not a regular file (a device, pipe or socket); give a file name, or leave "
                              "the option out to write nothing")
    if any(_under_dev_or_proc(q) for q in (path, final_path(path))):
        raise OutputPathError(f"{where}: /dev and /proc hold devices and system files; give a file name elsewhere, "
                              "or leave the option out to write nothing")
    parent = path.parent
    if not parent.is_dir():
        raise OutputPathError(f"{where}: the folder {str(parent) or '.'} does not exist")
    # the file is written beside the target and renamed over it: a folder without write permission failed only when
    # the run was done, naming the path alone
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{where}: cannot write in the folder {str(parent) or '.'} (no write permission)")


def _under_dev_or_proc(path) -> bool:
    if os.name != "posix":
        return False
    parts = Path(os.path.abspath(path)).parts
    return parts[1:2] == ("proc",) or (parts[1:2] == ("dev",) and parts[2:3] != ("shm",))


def final_path(path: Path) -> Path:
    """The file a path names: a symbolic link's target (renaming over the link would replace the link itself and
    leave the file it points to unchanged), else the path as given."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def as_path(p, field: str = "path") -> Path:
    """A user-given output path as a Path; an InputError naming ``field`` for anything else."""
    from .errors import InputError

    if not isinstance(p, (str, os.PathLike)) or not str(p).strip():
        raise InputError(f"{field}: expected a file path, got {type(p).__name__} {str(p)[:40]!r}")
    return Path(p)


def check_target(path, field: str | None = None) -> Path:
    """Fail fast (before any computing) if ``path`` cannot be an output file: one OutputError line, naming
    ``field`` (the option or argument that gave it) before the path when given."""
    p = as_path(path, field or "path")
    _check_target(p, field)
    _remember_field(p, field)
    return p


#: Figure formats a ``--plot`` file may have (matplotlib's, by the name's extension); a name without one is PNG.
FIGURE_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")


def figure_format(path, field: str | None = None) -> str:
    """The format of a figure file from its name's extension (``png`` when it has none); an OutputPathError naming
    ``field`` (default: ``path``, the figure writers' argument; ``--plot`` on the command line) for an extension
    matplotlib cannot write. Checked before anything runs: the figure is drawn last."""
    field = field or argument("path", "--plot")
    suffix = as_path(path, field).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in FIGURE_FORMATS:
        raise OutputPathError(f"{field}: cannot write a figure as '.{suffix}' ({path}); use one of "
                              + ", ".join("." + f for f in FIGURE_FORMATS))
    return suffix


#: What a figure's footer and a PNG's metadata name of the run that drew it (a figure was the one output file without
#: provenance: the same PNG from two parameter sets or models could not be told apart)
FIGURE_PROVENANCE_KEYS = (("scenario", "scenario"), ("seed", "seed"), ("parameter_set", "parameter set"),
                          ("model", "model"), ("ketasim_version", "ketasim"))


def figure_provenance_line(prov: dict | None) -> str:
    """One footer line of a figure: 'scenario quick; seed 0; parameter set ...; model ...; ketasim 0.1.0'."""
    prov = prov or {}
    return "; ".join(f"{label} {prov[k]}" for k, label in FIGURE_PROVENANCE_KEYS if prov.get(k) not in (None, ""))


def save_figure(fig, path, fmt: str, dpi: int, prov: dict | None = None) -> None:
    """``fig.savefig`` into ``path`` (already a temporary path of :func:`atomic_path`); a PNG also carries the run's
    provenance in its metadata (key ``ketasim provenance``, JSON)."""
    import json

    meta = None
    if fmt == "png" and prov:
        meta = {"ketasim provenance": json.dumps({k: prov.get(k) for k, _ in FIGURE_PROVENANCE_KEYS
                                                  if prov.get(k) is not None}, default=str)}
    fig.savefig(path, dpi=dpi, format=fmt, **({"metadata": meta} if meta else {}))


def check_output(path, default=None, field: str | None = None) -> Path:
    """:func:`check_target` for a command's output file, before anything runs: a folder the user named must exist;
    only the command's own default path (``default``, e.g. out/qualification.html) has its folder created.
    ``field``: the option that names it ('--html'), said in a refusal."""
    p = as_path(path, field or "path")
    if default is not None and p == as_path(default):
        p.parent.mkdir(parents=True, exist_ok=True)
    return check_target(p, field)


def check_distinct(inputs=(), outputs=()) -> None:
    """Refuse (one OutputPathError line, before any computing) an output path that is the same file as an input
    (``inputs``: pairs (what, path), e.g. ("--observed", "obs.csv")) or as another output: writing it would replace
    the input, or one output the other. Paths are compared resolved (``./a.json`` is ``a.json``; links followed).
    ``outputs``: paths, or pairs (option, path), whose option the message names ('--report: x.json: the same file as
    --json (x.json)')."""
    seen: dict[Path, str] = {}
    for what, p in inputs:
        if p is not None:
            seen.setdefault(Path(p).resolve(), f"{what} ({p})")
    for item in outputs:
        option, p = item if isinstance(item, tuple) else (None, item)
        if p is None:
            continue
        key = Path(p).resolve()
        if key in seen:
            where = f"{option}: {p}" if option else f"{p}"
            raise OutputPathError(f"{where}: the same file as {seen[key]}; writing it would replace that file: give "
                                  "another name")
        seen[key] = f"{option} ({p})" if option else f"another output ({p})"


@contextlib.contextmanager
def atomic_paths(*paths):
    """Yield temporary paths (same folders) for ``paths``; on success rename them all into place, the first
    path last (so put the main file first: a reader never sees it before its companions), on any exception
    or interrupt remove them."""
    for p in paths:
        _check_target(as_path(p))
    targets = [final_path(as_path(p)) for p in paths]
    for t in targets:
        _check_target(t)
    temps: list[Path] = []
    try:
        for t in targets:
            fd, tmp = tempfile.mkstemp(prefix=f".{t.name}.", suffix=f".tmp{t.suffix}", dir=t.parent)
            os.close(fd)
            temps.append(Path(tmp))
    except OSError as e:
        for tmp in temps:
            _unlink(tmp)
        raise _oserror(t, e) from None
    try:
        yield temps
        for tmp in temps:
            _fsync(tmp)
            _copy_mode(tmp)
        for tmp, t in reversed(list(zip(temps, targets))):
            os.replace(tmp, t)
    except OutputError:
        for tmp in temps:
            _unlink(tmp)
        raise
    except OSError as e:
        for tmp in temps:
            _unlink(tmp)
        raise _oserror(getattr(e, "filename", None) and _target_of(e.filename, temps, targets) or targets[0], e) \
            from None
    except BaseException:
        for tmp in temps:
            _unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path):
    """Yield one temporary path for ``path`` (for libraries that write to a path: pandas, pyarrow,
    matplotlib); it is renamed into place when the block completes."""
    with atomic_paths(path) as (tmp,):
        yield tmp


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
    return Path(path)


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


# ---- input text files ---------------------------------------------------------------------------------------------
#: Leading bytes of files users give where text is expected (a spreadsheet saved in its own format, a PDF), and what
#: they are; one table for every text input (scenarios, records, observed data).
NOT_TEXT_SIGNATURES = ((b"PK\x03\x04", "an Excel workbook or other ZIP file"),
                       (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Word file"), (b"%PDF", "a PDF"))


def decode_text(raw: bytes, name: str, error=None, save_as: str = "UTF-8") -> str:
    """A user's text file's bytes as text: UTF-8, with or without a byte-order mark. Anything else is one line (an
    ``error``, default InputError) saying what the file is and how to save it: UTF-16 (Windows 'Unicode'), another
    encoding (Excel's 'CSV' on Windows: Latin-1 / Windows-1252; names the byte and the line), or not text at all."""
    from .errors import InputError

    error = error or InputError
    for magic, what in NOT_TEXT_SIGNATURES:
        if raw.startswith(magic):
            raise error(f"{name}: this is {what}, not a text file; save it as {save_as}")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error(f"{name}: UTF-16 text (Windows 'Unicode'); save it as {save_as}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if b"\x00" in raw[:65536]:
            raise error(f"{name}: not a text file") from None
        # e.start counts in e.object: the bytes after a byte-order mark (in raw it named the byte 3 before the bad one)
        body = bytes(e.object)
        line = body.count(b"\n", 0, e.start) + 1
        raise error(f"{name}: not UTF-8 text (byte {body[e.start]:#04x} on line {line}: another encoding, e.g. "
                    f"Latin-1 or Windows-1252); save it as {save_as}") from None


def _comment_start(line: str) -> int:
    """Index of the '#' that starts a YAML comment on ``line`` (at the line's start or after a space, outside
    quotes), or -1."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or line[i - 1] in " \t,[{:"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return -1


#: YAML error contexts whose context mark is where an unfinished key, bracket or quote began (the problem mark is
#: where YAML noticed it: often the next line): what was left open
_OPENED_AT_CONTEXT = {"while scanning a simple key": "key", "while parsing a flow mapping": "'{'",
                      "while parsing a flow sequence": "'['", "while scanning a quoted scalar": "quote"}


def yaml_error_text(e, text: str) -> str:
    """What is wrong with YAML ``text`` that raised ``e`` (a yaml.YAMLError), as the tail of one error line:
    ' (line N): problem' plus a hint for what a user most often did (tabs, a non-breaking space or typographic quotes
    pasted from a document, a '#' comment inside a one-line {...} or [...] that swallowed its closing bracket)."""
    mark = getattr(e, "problem_mark", None)
    problem = " ".join(str(getattr(e, "problem", None) or e).splitlines())
    lines = text.splitlines()
    if mark is not None and "expected ',' or" in problem:
        # a '#' inside a flow mapping or sequence comments out the rest of its line, closing bracket included
        for n in range(min(mark.line, len(lines) - 1), -1, -1):
            i = _comment_start(lines[n])
            lost = lines[n][i + 1:] if i >= 0 else ""
            if i > 0 and any(c in lost for c in "}]"):
                before = lines[n][:i].rstrip()
                key = before.rsplit(",", 1)[-1].strip(" -{[}]")
                rest = lost.split(",", 1)[1].strip() if "," in lost else lost.strip()
                return (f" (line {n + 1}): the '#' after '{key}' starts a comment that runs to the end of the line, "
                        f"so the rest of that line ('{rest}') is not read; put the comment after the closing "
                        f"bracket or on a line of its own")
    where_line = f" (line {mark.line + 1})" if mark is not None else ""
    # the error's line and the one before it (a stray character often shows one line later)
    near = "\n".join(lines[max(0, mark.line - 1):mark.line + 1]) if mark is not None else ""
    # YAML notices a key without its ':', an unclosed bracket or quote where the next thing starts (often the next
    # line, or the end of the file): its problem mark is late, its context mark is where the unfinished thing began
    start = getattr(e, "context_mark", None)
    opened = str(getattr(e, "context", None) or "")
    if (mark is not None and start is not None and start.line < mark.line
            and opened.startswith(tuple(_OPENED_AT_CONTEXT))):
        what = _OPENED_AT_CONTEXT[next(k for k in _OPENED_AT_CONTEXT if opened.startswith(k))]
        found = (f"line {mark.line + 1}" if mark.line < len(lines) else "the end of the file")
        if what == "key":
            key = lines[start.line][start.column:].split("#", 1)[0].strip()[:40] if start.line < len(lines) else ""
            problem = (f"{f'{key!r}' if key else 'the key'} has no ':' after it (a key is written 'key: value'; YAML "
                       f"noticed it at {found}: {problem})")
        else:
            problem = f"the {what} opened on this line is not closed (YAML noticed it at {found}: {problem})"
        where_line = f" (line {start.line + 1})"
        near = "\n".join(lines[max(0, start.line - 1):mark.line + 1])
    if "\\t" in problem or "\t" in near:
        problem += "; indent with spaces, not tabs"
    elif "\u00a0" in near:              # copied from a word processor or a PDF
        problem += "; a non-breaking space (copied from a document?) near there: type a normal space"
    elif any(q in near for q in "“”‘’"):
        problem += "; typographic quotes (“ ”) near there: use straight quotes (\" or ') or none"
    return f"{where_line}: {problem}"


def read_text_input(path, *, what: str, max_bytes: int, name: str | None = None, error=None,
                    save_as: str = "UTF-8") -> str:
    """The text of a user's input file, read with bounded memory: at most ``max_bytes`` (a pipe or ``/dev/zero``
    cannot make it read forever). One line (``error``, default InputError) for a missing file, a folder, a file too
    large for ``what`` (e.g. 'a patient record') and any encoding but UTF-8 (:func:`decode_text`)."""
    from .errors import InputError

    error = error or InputError
    name = name or str(path)
    p = Path(path)
    if p.is_dir():
        raise error(f"{name}: is a directory, not {what}")
    try:
        with open(p, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as e:
        raise error(f"{name}: cannot read ({e.strerror or e})") from None
    if len(raw) > max_bytes:
        raise error(f"{name}: larger than the {max_bytes:,} bytes {what} may have")
    return decode_text(raw, name, error, save_as)


def _target_of(filename, temps, targets):
    for tmp, t in zip(temps, targets):
        if str(tmp) == str(filename):
            return t
    return filename


def _fsync(p: Path) -> None:
    with open(p, "rb") as fh:
        os.fsync(fh.fileno())


def _copy_mode(p: Path) -> None:
    # mkstemp creates 0600 files; give the file the permissions a normal open() would (umask applies)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(p, 0o666 & ~umask)


def _unlink(p: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(p)


#: locks this process holds, by lock file: (open file descriptor, how many nested holders); a nested
#: :func:`exclusive_lock` of the same file is a no-op (flock on a second descriptor would refuse this very process)
_HELD_LOCKS: dict[str, list] = {}


@contextlib.contextmanager
def exclusive_lock(target, field: str):
    """Hold ``TARGET.lock`` (beside ``target``) exclusively while the block runs, so that two runs writing the same
    file (the refit CV's checkpoint and result) cannot take turns overwriting it: a second one stops at once with one
    line (an :class:`~ketasim.errors.InputError` naming ``field`` -- the option or argument that gave ``target`` --,
    the file and the holder's process id). The lock is
    the kernel's (``fcntl.flock``): a run that dies, even by SIGKILL, releases it, so a lock file left behind never
    blocks. Nested use in one process is allowed. Where there is no ``fcntl`` (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:             # pragma: no cover - Windows: no advisory locks this simple; run unlocked
        yield
        return
    from .errors import InputError

    lock = Path(f"{target}.lock")
    name = os.path.abspath(lock)
    if name in _HELD_LOCKS:
        _HELD_LOCKS[name][1] += 1
        try:
            yield
        finally:
            _HELD_LOCKS[name][1] -= 1
        return
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise write_error(lock, e, field) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise InputError(f"{field}: {target} is in use by another run (process {holder}, lock {lock}); wait for it "
                             "to finish or write elsewhere") from None
        # the holder before us may have removed the file between our open and our lock: then we hold a lock on a
        # file nobody else will open; start again on the file now at that path
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD_LOCKS[name] = [fd, 1]
    try:
        yield
    finally:
        del _HELD_LOCKS[name]
        _unlink(lock)               # removed while still held (see the check above), then released
        os.close(fd)


__all__ = ["NOT_TEXT_SIGNATURES", "decode_text", "read_text_input", "as_path", "check_target", "final_path",
           "figure_format", "FIGURE_FORMATS", "atomic_path", "atomic_paths", "atomic_write_text", "atomic_write_bytes",
           "exclusive_lock"]
