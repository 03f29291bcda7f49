# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A small builder of self-contained HTML reports: inline CSS, figures as
base64 PNG, thumbnails as base64 JPEG, no script and no external URL, so
one file opens offline anywhere.

Every number a table shows can carry where it comes from: ``data-key`` is
the JSON path (a JSON list) of the value in the analysis' JSON output and
``data-value`` its full-precision value, so tests (and readers) can check
the page against the JSON.
"""
import base64
import html
import io
import json
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;
 margin:0;color:#1d2330;background:#f5f6f8;font-size:14px;line-height:1.45}
header{background:#1f3a5f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85}
main{padding:8px 32px 40px;max-width:1400px}
section{background:#fff;border-radius:6px;padding:6px 20px 16px;
 margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:17px;border-bottom:2px solid #e3e7ee;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
nav{font-size:13px;margin:10px 0} nav a{margin-right:14px;color:#1f3a5f}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #dde2ea;padding:3px 8px;text-align:left}
th{background:#eef1f6} td.num{text-align:right}
td.num span{white-space:nowrap}
td.sig{background:#fff4d6}
div.scroll{overflow-x:auto;max-width:100%}
caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0}
.note{color:#555;font-size:12.5px}
.lead{font-size:15px;font-weight:600;margin:12px 0 4px}
.banner{background:#fdecea;border:1px solid #f5c2c0;color:#8a1f17;
 padding:8px 12px;border-radius:4px;font-weight:600}
figure{margin:8px 0;display:inline-block;vertical-align:top}
figure img{max-width:100%;border:1px solid #e3e7ee}
figcaption{font-size:12.5px;color:#555}
.gallery{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #dde2ea;border-radius:6px;padding:8px;width:330px;
 background:#fbfcfd}
.card img{width:100px;height:100px;object-fit:cover;margin:2px;
 border:1px solid #ccc}
.card .title{font-weight:600} .bad{color:#a4261d}
header dl.provenance{margin:8px 0 0;font-size:12px;opacity:.85;
 display:grid;grid-template-columns:max-content auto;gap:0 10px}
header dl.provenance dt{font-weight:600} header dl.provenance dd{margin:0;
 word-break:break-all}
"""


@dataclass
class Cell:
    """A table cell.

    Args:
        value: Number, text or None.
        kind (str): ``'num'`` (``digits`` decimals), ``'p'`` (p-value,
            ``<0.001`` below that), ``'int'`` or ``'text'``.
        ci (tuple, optional): ``(lower, upper)`` shown as
            ``v (lo to hi)``.
        key (list, optional): JSON path of ``value``.
        ci_keys (tuple, optional): JSON paths of the bounds.
        digits (int): Decimals of ``'num'``. Defaults to 3.
        highlight (bool): Shade the cell (e.g. p < 0.05).
        counts (tuple, optional): ``(k, n)`` of a proportion, shown as
            ``k/n`` after the value.
    """
    value: object
    kind: str = 'num'
    ci: Optional[tuple] = None
    key: Optional[list] = None
    ci_keys: Optional[tuple] = None
    digits: int = 3
    highlight: bool = False
    counts: Optional[tuple] = None


def _isnan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_number(value, kind: str = 'num', digits: int = 3) -> str:
    """The displayed text of a number (an en dash for NaN / None)."""
    if _isnan(value):
        return '\u2013'
    if kind == 'p':
        return '<0.001' if value < 0.001 else f'{value:.3f}'
    if kind == 'int':
        return str(int(value))
    if kind == 'text':
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return '\u221e' if value > 0 else '-\u221e'
    text = f'{value:.{digits}f}'
    # no '-0.000' for a tiny negative number
    return text[1:] if text.startswith('-') and float(text) == 0 else text


def _attr_num(v) -> str:
    return 'nan' if _isnan(v) else repr(float(v))


def _render_cell(c: Union[Cell, object]) -> str:
    if not isinstance(c, Cell):
        if isinstance(c, (int, float)) and not isinstance(c, bool):
            c = Cell(c, kind='int' if isinstance(c, int) else 'num')
        else:
            c = Cell('' if c is None else c, kind='text')
    if c.kind == 'text':
        return f'<td>{html.escape(str(c.value))}</td>'
    parts = [fmt_number(c.value, c.kind, c.digits)]
    attrs = [f'data-value="{_attr_num(c.value)}"']
    if c.key is not None:
        attrs.append(f"data-key='{html.escape(json.dumps(c.key))}'")
    if c.ci is not None:
        lo, hi = c.ci
        parts.append(f'({fmt_number(lo, c.kind, c.digits)} to '
                     f'{fmt_number(hi, c.kind, c.digits)})')
        attrs += [
            f'data-ci-lower="{_attr_num(lo)}"',
            f'data-ci-upper="{_attr_num(hi)}"'
        ]
        if c.ci_keys is not None:
            attrs += [
                f"data-ci-lower-key='{html.escape(json.dumps(c.ci_keys[0]))}'",
                f"data-ci-upper-key='{html.escape(json.dumps(c.ci_keys[1]))}'"
            ]
    if c.counts is not None:
        parts.append(f'{int(c.counts[0])}/{int(c.counts[1])}')
        attrs.append(f'data-k="{int(c.counts[0])}" '
                     f'data-n="{int(c.counts[1])}"')
    cls = 'num sig' if c.highlight else 'num'
    # value, interval and k/n each unbroken; a narrow page wraps between
    text = ' '.join(f'<span>{html.escape(p)}</span>' for p in parts)
    return f'<td class="{cls}" {" ".join(attrs)}>{text}</td>'


def figure_png(fig, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi, bbox_inches='tight')
    plt.close(fig)
    return buf.getvalue()


def thumbnail_jpeg(path: str, size: int = 160) -> Optional[bytes]:
    """A JPEG thumbnail (longest side ``size``) of an image file, or None
    if it cannot be read."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            img = img.convert('RGB')
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.save(buf, format='JPEG', quality=80)
            return buf.getvalue()
    except (OSError, ValueError):
        return None


def data_uri(data: bytes, mime: str) -> str:
    return f'data:{mime};base64,{base64.b64encode(data).decode("ascii")}'


class HtmlReport:
    """Collects sections, tables, figures and galleries into one HTML file.

    Args:
        title (str): Page title.
        subtitle (str, optional): Line under the title.
    """

    def __init__(self, title: str, subtitle: Optional[str] = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self._body: List[str] = []
        self._toc: List[tuple] = []
        self._open = False
        self._lead: List[str] = []
        self.provenance: Optional[dict] = None

    def set_provenance(self, provenance: Optional[dict]) -> None:
        """Show ``provenance`` (see :mod:`ecdl_mm.utils.provenance`) in the
        page header: config and checkpoint with their hashes, data, inputs,
        date, versions and command line."""
        self.provenance = provenance

    def _provenance_html(self) -> str:
        from ...utils.provenance import provenance_lines
        lines = provenance_lines(self.provenance)
        if not lines:
            return ''
        return ('<dl class="provenance" id="provenance">' +
                ''.join(f'<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>'
                        for k, v in lines) + '</dl>')

    def section(self, title: str, anchor: str) -> None:
        """Start a section (closing the previous one); listed in the
        contents at the top."""
        self._close()
        self._toc.append((anchor, title))
        self._body.append(f'<section id="{html.escape(anchor)}">'
                          f'<h2>{html.escape(title)}</h2>')
        self._open = True

    def _close(self) -> None:
        if self._open:
            self._body.append('</section>')
            self._open = False

    def heading(self, text: str) -> None:
        self._body.append(f'<h3>{html.escape(text)}</h3>')

    def text(self, text: str, note: bool = False) -> None:
        cls = ' class="note"' if note else ''
        self._body.append(f'<p{cls}>{html.escape(text)}</p>')

    def lead(self, text: str, anchor: str, warn: bool = False) -> None:
        """A line the page opens with (above the contents), e.g. the
        verdict; ``warn`` shows it as a banner."""
        cls = 'banner' if warn else 'lead'
        self._lead.append(f'<p class="{cls}" id="{html.escape(anchor)}">'
                          f'{html.escape(text)}</p>')

    def banner(self, text: str) -> None:
        self._body.append(f'<p class="banner">{html.escape(text)}</p>')

    def table(self,
              header: Sequence[str],
              rows: Sequence[Sequence],
              table_id: str,
              caption: Optional[str] = None) -> None:
        """A table; cells are :class:`Cell`, numbers or text."""
        out = [f'<div class="scroll"><table id="{html.escape(table_id)}">']
        if caption:
            out.append(f'<caption>{html.escape(caption)}</caption>')
        out.append('<thead><tr>' + ''.join(f'<th>{html.escape(str(h))}</th>'
                                           for h in header) +
                   '</tr></thead><tbody>')
        for row in rows:
            out.append('<tr>' + ''.join(_render_cell(c)
                                        for c in row) + '</tr>')
        out.append('</tbody></table></div>')
        self._body.append(''.join(out))

    def figure(self,
               png: bytes,
               caption: Optional[str] = None,
               alt: str = 'figure',
               width: Optional[int] = None) -> None:
        style = f' style="width:{width}px"' if width else ''
        cap = (f'<figcaption>{html.escape(caption)}</figcaption>'
               if caption else '')
        self._body.append(f'<figure><img alt="{html.escape(alt)}"{style} '
                          f'src="{data_uri(png, "image/png")}">{cap}</figure>')

    def gallery(self, cards: Sequence[dict]) -> None:
        """Cards of ``title``, ``lines`` (text), ``images`` (JPEG bytes or
        None for an unreadable file) and ``missing`` (their paths)."""
        out = ['<div class="gallery">']
        for card in cards:
            out.append('<div class="card">')
            out.append(f'<div class="title">{html.escape(card["title"])}'
                       '</div>')
            for line in card.get('lines', []):
                out.append(f'<div>{html.escape(line)}</div>')
            for img in card.get('images', []):
                out.append(f'<img alt="thumbnail" '
                           f'src="{data_uri(img, "image/jpeg")}">')
            for path in card.get('missing', []):
                out.append(f'<div class="note bad">image not readable: '
                           f'{html.escape(path)}</div>')
            out.append('</div>')
        out.append('</div>')
        self._body.append(''.join(out))

    def render(self) -> str:
        """The whole page."""
        self._close()
        toc = ''.join(f'<a href="#{html.escape(a)}">{html.escape(t)}</a>'
                      for a, t in self._toc)
        sub = f'<p>{html.escape(self.subtitle)}</p>' if self.subtitle else ''
        return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<title>{html.escape(self.title)}</title>'
                f'<style>{CSS}</style></head><body>'
                f'<header><h1>{html.escape(self.title)}</h1>{sub}'
                f'{self._provenance_html()}</header>'
                f'<main>{"".join(self._lead)}<nav>{toc}</nav>'
                f'{"".join(self._body)}</main>'
                '</body></html>\n')

    def save(self, path: str) -> str:
        """Write the page to ``path``; returns ``path``."""
        with open(path, 'w', encoding='utf-8') as f:
            f.write(self.render())
        return path
