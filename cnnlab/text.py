"""User-supplied text (class folder names, file names, dataset and run names) made safe to show.

On a shared server one student's upload names reach every viewer of that run, so a name must be
shown as the characters it is, never interpreted:
- Streamlit Markdown (st.markdown, captions, widget and expander labels, metric labels) turns
  `[t](javascript:...)` into a link, `![t](https://host)` into a fetch from every viewer's browser,
  `:red[...]`/`:material/x:` into styling and icons, and bare `https://...`, `www.x.org`, `a@b.c`
  into links (GFM autolinks). `md_escape` backslash-escapes Markdown punctuation and puts an
  invisible word joiner (U+2060) after ':' and before '.' and '@', which breaks directives and
  autolinks while the text reads (and copies, bar the invisible character) the same.
- Plotly treats a subset of HTML in labels (`<a href>`, `<b>`, `<br>`): `html_escape` for those.
"""

from __future__ import annotations

import html
import re

ZWSP = "\u2060"  # word joiner: invisible, never a line break, but it ends a directive or autolink
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$&=^\"'])")


def md_escape(text: object) -> str:
    """`text` as Markdown that renders exactly these characters (no links, images, styles)."""
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(text))
    escaped = escaped.replace(":", ":" + ZWSP).replace("@", ZWSP + "@")
    escaped = escaped.replace("\\.", ZWSP + "\\.")
    return escaped.replace("\n", " ").replace("\r", " ")  # one line: no headings, lists, tables


def html_escape(text: object) -> str:
    """`text` for a Plotly label or hover text (its pseudo-HTML shows the characters)."""
    return html.escape(str(text), quote=True)
