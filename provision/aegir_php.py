"""Reading the PHP files Aegir writes, without executing PHP.

Aegir's provision keeps one "context" per server, platform and site in the aegir user's
`~/.drush/<name>.alias.drushrc.php`, and each site's settings in `sites/<domain>/drushrc.php`.
Both are PHP that provision wrote with var_export():

    <?php
    $aliases['example.com'] = array (
      'context_type' => 'site',
      'aliases' => array (0 => 'www.example.com'),
      'site_enabled' => true,
    );

These files are data, and data from another system: they are read as a small literal subset of
PHP (assignments of literal arrays, strings, numbers, true/false/null to `$aliases[...]` or
`$options[...]`) by a tokenizer and a recursive-descent parser. Anything else (a function call,
a variable, a constant, string interpolation, heredoc, an include) is refused with the file and
line; so is a file over the size cap, a link, or anything that is not a regular file.

A PHP array is returned as a dict (keys int or str, in file order); `values()` gives a list.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
VARIABLES = ("aliases", "options")

PhpValue = Any  # None | bool | int | float | str | dict[int | str, PhpValue]


class PhpDataError(ValueError):
    """The file is not the literal subset: says which file, which line and why."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


@dataclass(frozen=True)
class Token:
    kind: str  # str, int, float, name, var, punct, end
    value: Any
    line: int


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+")
_PUNCT = ("=>", "(", ")", "[", "]", ",", ";", "=", "-", "+")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "e": "\x1b", "f": "\f", "\\": "\\",
                   "$": "$", '"': '"'}


def _tokens(text: str, path: str) -> list[Token]:
    out: list[Token] = []
    i, line, n = 0, 1, len(text)
    start = text.lstrip()
    if not start.startswith("<?php"):
        raise PhpDataError(path, 1, "does not start with <?php")
    skipped = len(text) - len(start)
    line += text[:skipped].count("\n")
    i = skipped + 5
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#" or text.startswith("//", i):
            if text.startswith("#[", i):
                raise PhpDataError(path, line, "an attribute is not data")
            end = text.find("\n", i)
            if "?>" in text[i:n if end < 0 else end]:
                raise PhpDataError(path, line, "a closing ?> inside a comment is refused")
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise PhpDataError(path, line, "unterminated comment")
            line += text.count("\n", i, end)
            i = end + 2
        elif text.startswith("?>", i):
            if text[i + 2:].strip():
                raise PhpDataError(path, line, "text after ?> is refused")
            break
        elif c == "'":
            value, i, line = _single(text, i + 1, line, path)
            out.append(Token("str", value, line))
        elif c == '"':
            value, i, line = _double(text, i + 1, line, path)
            out.append(Token("str", value, line))
        elif c == "$":
            m = _WORD.match(text, i + 1)
            if not m:
                raise PhpDataError(path, line, "a $ that is not a variable name")
            out.append(Token("var", m.group(), line))
            i = m.end()
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            assert m is not None
            raw = m.group().replace("_", "")
            if raw.lower().startswith("0x"):
                out.append(Token("int", int(raw, 16), line))
            elif any(ch in raw for ch in ".eE"):
                out.append(Token("float", float(raw), line))
            elif len(raw) > 1 and raw.startswith("0"):
                if not set(raw) <= set("01234567"):
                    raise PhpDataError(path, line, f"a malformed octal number {raw!r}")
                out.append(Token("int", int(raw, 8), line))
            else:
                out.append(Token("int", int(raw), line))
            i = m.end()
            if i < n and (text[i].isalnum() or text[i] == "_"):
                raise PhpDataError(path, line, f"a malformed number {text[m.start():i + 1]!r}")
        elif _WORD.match(text, i):
            m = _WORD.match(text, i)
            assert m is not None
            out.append(Token("name", m.group(), line))
            i = m.end()
        else:
            for p in _PUNCT:
                if text.startswith(p, i):
                    out.append(Token("punct", p, line))
                    i += len(p)
                    break
            else:
                raise PhpDataError(path, line, f"unexpected character {c!r}")
    out.append(Token("end", None, line))
    return out


def _single(text: str, i: int, line: int, path: str) -> tuple[str, int, int]:
    parts: list[str] = []
    start_line = line
    while True:
        if i >= len(text):
            raise PhpDataError(path, start_line, "unterminated string")
        c = text[i]
        if c == "'":
            return "".join(parts), i + 1, line
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "'\\":
            parts.append(text[i + 1])
            i += 2
            continue
        if c == "\n":
            line += 1
        parts.append(c)
        i += 1


def _double(text: str, i: int, line: int, path: str) -> tuple[str, int, int]:
    parts: list[str] = []
    start_line = line
    while True:
        if i >= len(text):
            raise PhpDataError(path, start_line, "unterminated string")
        c = text[i]
        if c == '"':
            return "".join(parts), i + 1, line
        if c == "$" or (c == "{" and text.startswith("{$", i)):
            raise PhpDataError(path, line, "a variable inside a double-quoted string is refused")
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                parts.append(_SIMPLE_ESCAPES[nxt])
                i += 2
                continue
            m = re.compile(r"[0-7]{1,3}").match(text, i + 1)
            if m:
                parts.append(chr(int(m.group(), 8) & 0xFF))
                i = m.end()
                continue
            m = re.compile(r"x([0-9a-fA-F]{1,2})").match(text, i + 1)
            if m:
                parts.append(chr(int(m.group(1), 16)))
                i = m.end()
                continue
            m = re.compile(r"u\{([0-9a-fA-F]{1,6})\}").match(text, i + 1)
            if m:
                code = int(m.group(1), 16)
                if code > 0x10FFFF:
                    raise PhpDataError(path, line, "a \\u escape out of range")
                parts.append(chr(code))
                i = m.end()
                continue
        if c == "\n":
            line += 1
        parts.append(c)
        i += 1


class _Parser:
    def __init__(self, tokens: list[Token], path: str) -> None:
        self.tokens, self.pos, self.path = tokens, 0, path

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def fail(self, tok: Token, reason: str) -> PhpDataError:
        return PhpDataError(self.path, tok.line, reason)

    def expect(self, punct: str) -> Token:
        tok = self.take()
        if tok.kind != "punct" or tok.value != punct:
            raise self.fail(tok, f"expected {punct!r}, found {_shown(tok)}")
        return tok

    def document(self) -> dict[str, dict[int | str, PhpValue]]:
        out: dict[str, dict[int | str, PhpValue]] = {}
        while self.peek().kind != "end":
            tok = self.take()
            if tok.kind != "var" or tok.value not in VARIABLES:
                raise self.fail(tok, f"only assignments to ${' or $'.join(VARIABLES)} are read, found {_shown(tok)}")
            self.expect("[")
            key = self.key(self.value(0))
            self.expect("]")
            self.expect("=")
            value = self.value(0)
            self.expect(";")
            out.setdefault(tok.value, {})[key] = value
        return out

    def key(self, value: PhpValue) -> int | str:
        if isinstance(value, bool) or value is None or isinstance(value, (dict, float)):
            raise self.fail(self.tokens[self.pos - 1], "an array key must be a string or an integer")
        return value

    def value(self, depth: int) -> PhpValue:
        if depth > MAX_DEPTH:
            raise self.fail(self.peek(), f"arrays nested deeper than {MAX_DEPTH}")
        tok = self.take()
        if tok.kind in ("str", "int", "float"):
            return tok.value
        if tok.kind == "punct" and tok.value in ("-", "+"):
            num = self.take()
            if num.kind not in ("int", "float"):
                raise self.fail(num, f"expected a number after {tok.value}, found {_shown(num)}")
            return -num.value if tok.value == "-" else num.value
        if tok.kind == "name":
            word = tok.value.lower()
            if word in ("true", "false"):
                return word == "true"
            if word == "null":
                return None
            if word == "array" and self.peek().kind == "punct" and self.peek().value == "(":
                self.take()
                return self.items(")", depth)
            raise self.fail(tok, f"{tok.value!r} is not data (a constant, a function call or code)")
        if tok.kind == "punct" and tok.value == "[":
            return self.items("]", depth)
        raise self.fail(tok, f"expected a value, found {_shown(tok)}")

    def items(self, close: str, depth: int) -> dict[int | str, PhpValue]:
        out: dict[int | str, PhpValue] = {}
        following = 0
        while True:
            tok = self.peek()
            if tok.kind == "punct" and tok.value == close:
                self.take()
                return out
            first = self.value(depth + 1)
            nxt = self.peek()
            if nxt.kind == "punct" and nxt.value == "=>":
                self.take()
                key = _php_key(self.key(first))
                out[key] = self.value(depth + 1)
                if isinstance(key, int) and key >= following:
                    following = key + 1
            else:
                out[following] = first
                following += 1
            nxt = self.take()
            if nxt.kind == "punct" and nxt.value == close:
                return out
            if nxt.kind != "punct" or nxt.value != ",":
                raise self.fail(nxt, f"expected ',' or {close!r}, found {_shown(nxt)}")


def _php_key(key: int | str) -> int | str:
    """PHP stores a string key that is a canonical decimal integer as that integer."""
    if isinstance(key, str) and re.fullmatch(r"-?(0|[1-9][0-9]{0,17})", key) and key != "-0":
        return int(key)
    return key


def _shown(tok: Token) -> str:
    if tok.kind == "end":
        return "the end of the file"
    return repr(tok.value)[:40]


def parse_text(text: str, path: str = "<text>") -> dict[str, dict[int | str, PhpValue]]:
    """The assignments in TEXT: {"aliases": {name: value}, "options": {key: value}}."""
    return _Parser(_tokens(text, path), path).document()


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> dict[str, dict[int | str, PhpValue]]:
    """parse_text() of the file at PATH: a regular file, not a link, at most MAX_BYTES."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        reason = "a link is refused" if os.path.islink(path) else f"cannot be read: {exc.strerror}"
        raise PhpDataError(name, 0, reason) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PhpDataError(name, 0, "not a regular file")
        if info.st_size > max_bytes:
            raise PhpDataError(name, 0, f"larger than {max_bytes} bytes ({info.st_size})")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(raw) > max_bytes:
        raise PhpDataError(name, 0, f"larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PhpDataError(name, line, "not UTF-8") from None
    return parse_text(text, name)


def values(value: PhpValue) -> list[PhpValue]:
    """The values of a PHP array in order (an empty list for anything else, such as false)."""
    return list(value.values()) if isinstance(value, dict) else []


def export(value: PhpValue, indent: str = "") -> str:
    """VALUE written as PHP's var_export() writes it (what Aegir's files hold)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    lines = [f"\n{indent}array ("]
    for key, item in value.items():
        lines.append(f"{indent}  {export(key)} => {export(item, indent + '  ')},")
    lines.append(f"{indent})")
    return "\n".join(lines)


def export_file(variable: str, entries: dict[int | str, PhpValue]) -> str:
    """A file of assignments to $VARIABLE[key] as provision writes an alias file."""
    body = "".join(f"${variable}[{export(k)}] = {export(v)};\n" for k, v in entries.items())
    return f"<?php \n{body}"
