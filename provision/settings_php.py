"""Drupal's settings.php: read the database credentials without running PHP, and write one.

Reading: a platform verify finds sites on disk and must know their databases, but settings.php
is code we do not trust and PHP may not even be installed on the worker. So we read only literal
assignments to `$databases` (Drupal 7 `array(...)` and 8+ `[...]`, either quote style), skipping
comments and strings, and leave anything computed (getenv(), constants) out.

Writing: values are PHP single-quoted strings, where only `\\` and `'` need escaping, so any
text (other than NUL) written by render_settings_php() reads back the same."""
from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provision.errors import ProvisionError

MAX_SETTINGS_SIZE = 2 * 1024 * 1024  # a settings.php bigger than this is not read
DRIVERS = ("mysql", "pgsql", "sqlite")


@dataclass(frozen=True)
class DatabaseSettings:
    driver: str  # "mysql" (MariaDB too), "pgsql" or "sqlite"
    database: str  # for sqlite: the file, absolute or relative to the Drupal root
    username: str = ""
    password: str = field(default="", repr=False)
    host: str = ""
    port: int | None = None
    prefix: str = ""

    def url(self) -> str:
        """The database as drush's --db-url wants it (the password is in it: keep it secret)."""
        if self.driver == "sqlite":
            # Drupal: sqlite://localhost/<path>; an absolute path shows as a double slash.
            return f"sqlite://localhost/{self.database}"
        auth = urllib.parse.quote(self.username, safe="")
        if self.password:
            auth += ":" + urllib.parse.quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else (self.host or "localhost")
        port = f":{self.port}" if self.port else ""
        return f"{self.driver}://{auth}@{host}{port}/{urllib.parse.quote(self.database, safe='')}"

    @classmethod
    def from_url(cls, url: str) -> DatabaseSettings:
        """Parse a --db-url (mysql://, mariadb://, pgsql:// or postgres://, sqlite://)."""
        scheme, sep, rest = url.partition("://")
        scheme = {"mariadb": "mysql", "postgres": "pgsql", "postgresql": "pgsql"}.get(scheme, scheme)
        if not sep or scheme not in DRIVERS:
            raise ProvisionError("A database URL must start with mysql://, pgsql:// or sqlite://.")
        if scheme == "sqlite":
            path = rest[len("localhost/"):] if rest.startswith("localhost/") else rest
            if not path:
                raise ProvisionError("The sqlite database URL names no file.")
            return cls(driver="sqlite", database=path)
        parts = urllib.parse.urlsplit(f"{scheme}://{rest}")
        try:
            port = parts.port
        except ValueError:
            raise ProvisionError("The database URL has an invalid port.") from None
        database = urllib.parse.unquote(parts.path.lstrip("/"))
        if not database:
            raise ProvisionError("The database URL names no database.")
        return cls(driver=scheme, database=database,
                   username=urllib.parse.unquote(parts.username or ""),
                   password=urllib.parse.unquote(parts.password or ""),
                   host=parts.hostname or "", port=port)


# -- reading ---------------------------------------------------------------------------------

# Comments and strings are matched whole so that a `$databases` inside them is passed over.
_SKIP = re.compile(r"""//[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z)|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"
                       |(\$databases\b)""", re.S | re.X)
_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<sq>'(?:[^'\\]|\\.)*')
  | (?P<dq>"(?:[^"\\]|\\.)*")
  | (?P<num>\d+)
  | (?P<name>[A-Za-z_\\][A-Za-z0-9_\\]*)
  | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>=>|==|\.=|\+=|[-=\[\](),;.{}])
  | (?P<other>.)
""", re.S | re.X)
_DQ_ESCAPE = re.compile(r"\\(?:([nrtvef\\$\"])|([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u\{([0-9A-Fa-f]+)\})")
_DQ_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "e": "\x1b", "f": "\f",
              "\\": "\\", "$": "$", '"': '"'}
_INTERPOLATED = re.compile(r"(?<!\\)(?:\\\\)*\$[A-Za-z_{]|\{\$")


class _Unknown:
    """A value we cannot know without running PHP (a function call, a constant, $var)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


def _unquote_sq(token: str) -> str:
    return re.sub(r"\\([\\'])", r"\1", token[1:-1])


def _unquote_dq(token: str) -> str | _Unknown:
    body = token[1:-1]
    if _INTERPOLATED.search(body):
        return UNKNOWN

    def one(m: re.Match[str]) -> str:
        simple, octal, hexa, uni = m.groups()
        if simple:
            return _DQ_SIMPLE[simple]
        if octal:
            return chr(int(octal, 8) & 0xFF)
        if hexa:
            return chr(int(hexa, 16))
        return chr(int(uni, 16))

    return _DQ_ESCAPE.sub(one, body)


class _Tokens:
    def __init__(self, text: str, pos: int) -> None:
        self.text, self.pos = text, pos
        self.peeked: tuple[str, str] | None = None

    def peek(self) -> tuple[str, str]:
        if self.peeked is None:
            while True:
                m = _TOKEN.match(self.text, self.pos)
                if m is None:
                    self.peeked = ("eof", "")
                    break
                self.pos = m.end()
                if m.lastgroup != "ws":
                    self.peeked = (m.lastgroup or "other", m.group())
                    break
        return self.peeked

    def next(self) -> tuple[str, str]:
        token = self.peek()
        self.peeked = None
        return token


def _value(tokens: _Tokens) -> object:
    """One PHP value: a literal array, string, number, bool or null, or UNKNOWN (skipped)."""
    kind, text = tokens.next()
    value: object
    if (kind, text.lower()) == ("name", "array") and tokens.peek() == ("op", "("):
        tokens.next()
        value = _array(tokens, ")")
    elif (kind, text) == ("op", "["):
        value = _array(tokens, "]")
    elif kind == "sq":
        value = _unquote_sq(text)
    elif kind == "dq":
        value = _unquote_dq(text)
    elif kind == "num":
        value = int(text)
    elif (kind, text) == ("op", "-") and tokens.peek()[0] == "num":
        value = -int(tokens.next()[1])
    elif kind == "name" and text.lower() in ("true", "false", "null"):
        value = {"true": True, "false": False, "null": None}[text.lower()]
    else:
        value = UNKNOWN
    # Concatenation of literals ('a' . 'b') is still a literal; anything else is not.
    while tokens.peek() == ("op", "."):
        tokens.next()
        right = _value(tokens)
        value = f"{value}{right}" if isinstance(value, (str, int)) and isinstance(right, (str, int)) \
            else UNKNOWN
    if value is UNKNOWN:
        _skip_expression(tokens)
    return value


def _skip_expression(tokens: _Tokens) -> None:
    """Skip the rest of a value we cannot read, up to the ',' ';' or bracket that ends it."""
    depth = 0
    while True:
        kind, text = tokens.peek()
        if kind == "eof":
            return
        if kind == "op" and text in "([{":
            depth += 1
        elif kind == "op" and text in ")]}":
            if depth == 0:
                return
            depth -= 1
        elif kind == "op" and text in (",", ";", "=>") and depth == 0:
            return
        tokens.next()


def _array(tokens: _Tokens, close: str) -> dict[object, object]:
    result: dict[object, object] = {}
    index = 0
    while True:
        if tokens.peek() == ("op", close):
            tokens.next()
            return result
        if tokens.peek()[0] == "eof":
            return result
        first = _value(tokens)
        if tokens.peek() == ("op", "=>"):
            tokens.next()
            result[first if isinstance(first, (str, int)) else UNKNOWN] = _value(tokens)
        else:
            result[index] = first
            index += 1
        if tokens.peek() == ("op", ","):
            tokens.next()
        elif tokens.peek() != ("op", close):
            _skip_expression(tokens)  # something unexpected: resynchronise on ',' or close
            if tokens.peek() == ("op", ","):
                tokens.next()
            elif tokens.peek() != ("op", close):
                return result


def _assignment(text: str, pos: int, tree: dict[object, object]) -> None:
    """Apply `$databases[...][...] = value;` starting just after `$databases` to TREE."""
    tokens = _Tokens(text, pos)
    keys: list[object] = []
    while tokens.peek() == ("op", "["):
        tokens.next()
        key = _value(tokens)
        if tokens.next() != ("op", "]") or not isinstance(key, (str, int)):
            return
        keys.append(key)
    if tokens.next() != ("op", "="):
        return  # a read, a comparison or +=: not something we model
    value = _value(tokens)
    if not keys:
        tree.clear()
        if isinstance(value, dict):
            tree.update(value)
        return
    node = tree
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def parse_databases(text: str) -> dict[object, object]:
    """The literal part of the `$databases` array a settings.php builds, outside comments."""
    tree: dict[object, object] = {}
    for m in _SKIP.finditer(text):
        if m.group(1):
            _assignment(text, m.end(), tree)
    return tree


def parse_database_settings(text: str) -> DatabaseSettings | None:
    """The default database of a settings.php text, or None when it has none we can read."""
    default = parse_databases(text).get("default")
    conn = default.get("default") if isinstance(default, dict) else None
    if not isinstance(conn, dict):
        return None
    driver, database = conn.get("driver"), conn.get("database")
    if not isinstance(driver, str) or not isinstance(database, str) or not database:
        return None

    def text_of(key: str) -> str:
        value = conn.get(key)
        return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""

    prefix = conn.get("prefix")
    if isinstance(prefix, dict):  # Drupal 7 per-table prefixes: the default one is what counts
        prefix = prefix.get("default", "")
    port_text = text_of("port")
    return DatabaseSettings(
        driver=driver, database=database, username=text_of("username"),
        password=text_of("password"), host=text_of("host"),
        port=int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None,
        prefix=prefix if isinstance(prefix, str) else "",
    )


def read_database_settings(path: str | os.PathLike[str]) -> DatabaseSettings | None:
    """Read the default database of a settings.php file (None: no readable database)."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_SETTINGS_SIZE + 1)
    return parse_settings_bytes(path, data)


def parse_settings_bytes(path: str | os.PathLike[str], data: bytes) -> DatabaseSettings | None:
    if len(data) > MAX_SETTINGS_SIZE:
        raise ProvisionError(f"{path} is larger than {MAX_SETTINGS_SIZE // 1024 // 1024} MiB; "
                             "it was not read.")
    return parse_database_settings(data.decode("utf-8", errors="replace"))


# -- writing ---------------------------------------------------------------------------------

def php_string(value: str) -> str:
    """VALUE as a PHP single-quoted string literal."""
    if "\x00" in value:
        raise ProvisionError("A settings.php value cannot contain a NUL byte.")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _connection_lines(db: DatabaseSettings, drupal: int) -> list[str]:
    entries = [("driver", db.driver), ("database", db.database), ("username", db.username),
               ("password", db.password), ("host", db.host),
               ("port", str(db.port) if db.port else ""), ("prefix", db.prefix)]
    if drupal >= 8 and db.driver in DRIVERS:
        # What Drupal's installer writes since 9.4, when drivers became modules.
        entries += [("namespace", f"Drupal\\{db.driver}\\Driver\\Database\\{db.driver}"),
                    ("autoload", f"core/modules/{db.driver}/src/Driver/Database/{db.driver}/")]
    if drupal >= 8 and db.driver == "mysql":
        entries.append(("collation", "utf8mb4_general_ci"))
    return [f"  {php_string(k)} => {php_string(v)}," for k, v in entries]


def render_settings_php(
    db: DatabaseSettings,
    *,
    hash_salt: str,
    drupal: int = 10,
    file_public_path: str,
    file_private_path: str | None = None,
    file_temp_path: str | None = None,
    config_sync_directory: str | None = None,
    trusted_host_patterns: Sequence[str] = (),
) -> str:
    """A complete settings.php for one site, in the shape of Drupal DRUPAL (7, 10 or 11)."""
    if drupal not in (7, 8, 9, 10, 11):
        raise ProvisionError(f"Drupal {drupal} is not supported.")
    opening, closing = ("array(", ");") if drupal == 7 else ("[", "];")
    lines = [
        "<?php",
        "",
        "/**",
        " * Written by Harbormaster: a verify rewrites this file. Put your own settings in",
        " * settings.local.php next to it, which is included at the end.",
        " */",
        "",
        f"$databases['default']['default'] = {opening}",
        *_connection_lines(db, drupal),
        closing,
        "",
    ]
    if drupal == 7:
        lines.append(f"$drupal_hash_salt = {php_string(hash_salt)};")
        lines.append(f"$conf['file_public_path'] = {php_string(file_public_path)};")
        if file_private_path:
            lines.append(f"$conf['file_private_path'] = {php_string(file_private_path)};")
        if file_temp_path:
            lines.append(f"$conf['file_temporary_path'] = {php_string(file_temp_path)};")
        local = "DRUPAL_ROOT . '/' . conf_path() . '/settings.local.php'"
    else:
        lines.append(f"$settings['hash_salt'] = {php_string(hash_salt)};")
        lines.append(f"$settings['file_public_path'] = {php_string(file_public_path)};")
        if file_private_path:
            lines.append(f"$settings['file_private_path'] = {php_string(file_private_path)};")
        if file_temp_path:
            lines.append(f"$settings['file_temp_path'] = {php_string(file_temp_path)};")
        if config_sync_directory:
            lines.append(f"$settings['config_sync_directory'] = {php_string(config_sync_directory)};")
        if trusted_host_patterns:
            patterns = ", ".join(php_string(p) for p in trusted_host_patterns)
            lines.append(f"$settings['trusted_host_patterns'] = [{patterns}];")
        local = "$app_root . '/' . $site_path . '/settings.local.php'"
    lines += ["", f"if (file_exists({local})) {{", f"  include {local};", "}", ""]
    return "\n".join(lines)


def trusted_host_pattern(domain: str) -> str:
    """The trusted_host_patterns entry for exactly DOMAIN."""
    return "^" + re.escape(domain) + "$"


def write_settings_php(path: Path, content: str) -> None:
    """Write settings.php atomically, read-only for its owner and group (it holds
    the database password, and Drupal warns about a writable settings.php)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a read-only leftover of a crashed write could not be opened
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o440)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
