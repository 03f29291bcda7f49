# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Request hygiene of the reader app: strict forms, rotating CSRF tokens,
escaped logs, refusals counted in memory, a body limit that also holds for
chunked bodies, and a generic ``Server`` header.

- :func:`parse_form`: every field of a form is checked against its exact
  allowed values; anything else (a missing, repeated or unknown field, a
  value outside the set, another content type) is a :class:`FormError`
  whose message is the one-line reason the 400 page shows.
- :class:`CsrfTokens`: a token is bound to who it was issued to (a reader or
  the admin), carries a fresh nonce on every page and expires.
- :func:`escape_log`: request data is logged with control characters
  (CR, LF, ...) escaped, so a path cannot forge a log line.
- :class:`RefusalLog`: refused requests are counted in memory and logged at
  a bounded rate (``limit`` lines per ``window`` seconds, the rest summed
  into the next line); they never touch the database, so a flood of them
  cannot fill the disk of the machine holding the study.
- :class:`BodyLimit`: a WSGI wrapper answering 413 to any body over the
  limit, whether it declares its length or is sent chunked.
"""
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import Counter, deque
from typing import Callable, Collection, Dict, Mapping, Optional, Union

#: The ``Server`` header of every response (no framework or version).
SERVER_HEADER = 'reader-app'
FORM_TYPE = 'application/x-www-form-urlencoded'
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')


class FormError(ValueError):
    """A form that is not exactly what the page sends (one-line reason)."""


def escape_log(text: str, limit: int = 300) -> str:
    """``text`` on one line: control characters as ``\\xNN`` escapes,
    cut to ``limit`` characters."""
    text = _CONTROL.sub(
        lambda m: f'\\x{ord(m.group()):02x}'
        if ord(m.group()) < 256 else f'\\u{ord(m.group()):04x}', str(text))
    return text if len(text) <= limit else text[:limit] + '...'


Rule = Union[Collection[str], Callable[[str], bool]]


def parse_form(form, mimetype: str, rules: Mapping[str,
                                                   Rule]) -> Dict[str, str]:
    """The fields of ``form`` (a werkzeug ``MultiDict``), each exactly once
    and allowed by its rule (a set of values, or a predicate).

    Raises:
        FormError: Naming the first field at fault.
    """
    if mimetype != FORM_TYPE:
        raise FormError(f'the form must be sent as {FORM_TYPE}')
    unknown = sorted(k for k in form.keys() if k not in rules)
    if unknown:
        raise FormError(f'unknown field {escape_log(unknown[0], 40)!r}')
    out = {}
    for name, rule in rules.items():
        values = form.getlist(name)
        if len(values) != 1:
            raise FormError(f'field {name!r} must be given once '
                            f'(got {len(values)})')
        value = values[0]
        ok = rule(value) if callable(rule) else value in rule
        if not ok:
            if callable(rule):
                raise FormError(f'field {name!r} has an invalid value')
            raise FormError(f'field {name!r} must be one of '
                            f'{", ".join(sorted(rule))}')
        out[name] = value
    return out


class CsrfTokens:
    """Per-page CSRF tokens: ``<nonce>_<issued>_<mac>`` where the MAC binds
    the nonce and the time to the holder (``'reader|<id>'`` or
    ``'admin'``).

    Args:
        key (bytes): The app's secret key.
        max_age (float): Seconds a page's token stays valid.
    """

    def __init__(self, key: bytes, max_age: float = 12 * 3600):
        self._key = key
        self.max_age = max_age

    def _mac(self, who: str, nonce: str, issued: str) -> str:
        msg = f'csrf|{who}|{nonce}|{issued}'.encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:32]

    def make(self, who: str, now: Optional[float] = None) -> str:
        """A new token for one page of ``who``."""
        nonce = secrets.token_hex(8)
        issued = str(int(time.time() if now is None else now))
        return f'{nonce}_{issued}_{self._mac(who, nonce, issued)}'

    def check(self, who: str, token: str, now: Optional[float] = None) -> str:
        """'' when ``token`` is a live token of ``who``, else why not."""
        parts = token.split('_')
        if len(parts) != 3 or not parts[1].isdigit():
            return 'missing or malformed CSRF token'
        nonce, issued, mac = parts
        if not hmac.compare_digest(mac, self._mac(who, nonce, issued)):
            return 'CSRF token not issued to this reader'
        age = (time.time() if now is None else now) - int(issued)
        if not -60 <= age <= self.max_age:
            return 'CSRF token expired (reload the page)'
        return ''


class RefusalLog:
    """Refused requests: counted per kind, logged at a bounded rate.

    Args:
        logger (logging.Logger): Where the lines go.
        limit (int): Lines per ``window`` at most.
        window (float): Seconds.
    """

    def __init__(self,
                 logger: logging.Logger,
                 limit: int = 10,
                 window: float = 60.0):
        self.logger = logger
        self.limit, self.window = limit, window
        self.counts: Counter = Counter()
        #: The last 100 refusals, ``(kind, escaped text)``, logged or not.
        self.recent: deque = deque(maxlen=100)
        self._lock = threading.Lock()
        self._window_start = -float('inf')
        self._logged = 0
        self._suppressed = 0

    def refuse(self, kind: str, text: str):
        """Count one refusal; log it unless this window's lines are used."""
        now = time.monotonic()
        kind, text = escape_log(kind), escape_log(text)
        with self._lock:
            self.counts[kind] += 1
            self.recent.append((kind, text))
            if now - self._window_start >= self.window:
                self._window_start, self._logged = now, 0
            if self._logged >= self.limit:
                self._suppressed += 1
                return
            self._logged += 1
            extra, self._suppressed = self._suppressed, 0
        more = f' (+{extra} more refused, not logged)' if extra else ''
        self.logger.warning('refused (%s) %s%s', kind, text, more)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class BodyLimit:
    """WSGI wrapper: 413 for a request body over ``limit`` bytes, declared
    (``Content-Length``) or chunked (read up to the limit, then refused);
    a body within the limit is handed on with its length set.

    Args:
        app: The WSGI app.
        limit (int): Bytes.
        on_refuse (callable, optional): Called with ``(environ, why)``.
    """

    def __init__(self, app, limit: int, on_refuse=None):
        self.app, self.limit, self.on_refuse = app, limit, on_refuse

    def _refuse(self, environ, start_response, status, why):
        if self.on_refuse is not None:
            self.on_refuse(environ, why)
        body = f'{status}\n'.encode()
        start_response(status, [('Content-Type', 'text/plain'),
                                ('Content-Length', str(len(body))),
                                ('Connection', 'close'),
                                ('Server', SERVER_HEADER)])
        return [body]

    def __call__(self, environ, start_response):
        length = environ.get('CONTENT_LENGTH') or ''
        chunked = (
            environ.get('wsgi.input_terminated')
            or 'chunked' in environ.get('HTTP_TRANSFER_ENCODING', '').lower())
        if length and not chunked:
            if not length.isdigit():
                return self._refuse(environ, start_response, '400 Bad Request',
                                    'malformed Content-Length')
            if int(length) > self.limit:
                return self._refuse(environ, start_response,
                                    '413 Request Entity Too Large',
                                    f'body of {length} bytes')
        elif chunked:
            import io
            data = bytearray()
            try:
                while len(data) <= self.limit:
                    part = environ['wsgi.input'].read(self.limit + 1 -
                                                      len(data))
                    if not part:
                        break
                    data += part
            except (OSError, ValueError):
                return self._refuse(environ, start_response, '400 Bad Request',
                                    'malformed chunked body')
            if len(data) > self.limit:
                return self._refuse(environ, start_response,
                                    '413 Request Entity Too Large',
                                    f'chunked body over {self.limit} bytes')
            environ['wsgi.input'] = io.BytesIO(bytes(data))
            environ['CONTENT_LENGTH'] = str(len(data))
            environ['wsgi.input_terminated'] = False
            environ.pop('HTTP_TRANSFER_ENCODING', None)
        return self.app(environ, start_response)
