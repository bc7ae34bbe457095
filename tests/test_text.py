"""md_escape against Streamlit's own Markdown renderer is tested in a real browser
(tests/test_browser_hostile.py); here: the escaping rules a renderer relies on."""

from cnnlab.text import ZWSP, html_escape, md_escape

HOSTILE = [
    "[click](javascript:alert(1))",
    "![t](https://127.0.0.1:8699)",
    ":red[RED] **bold**",
    ":material/home:",
    "www.example.com",
    "a@b.co",
    "<img src=x onerror=alert(1)>",
    "# heading\n- list",
]


def visible(text: str) -> str:
    """What a reader sees: backslash escapes resolved, zero-width spaces invisible."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out).replace(ZWSP, "")


def test_escaped_text_reads_as_the_original() -> None:
    for name in HOSTILE:
        assert visible(md_escape(name)) == name.replace("\n", " ")


def test_no_markdown_syntax_survives() -> None:
    for name in HOSTILE:
        out = md_escape(name)
        assert "](" not in out and "://" not in out and "www." not in out
        assert ":red[" not in out and ":material/" not in out and "\n" not in out


def test_html_escape_for_plot_labels() -> None:
    assert html_escape('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"


def test_class_names_cannot_inject_latex_commands() -> None:
    from cnnlab.learn.softmax_loss import cross_entropy_formula, latex_text

    assert latex_text(r"\href{x}{y} 50% a_b") == r"\textbackslash{}href\{x\}\{y\} 50\% a\_b"
    formula = cross_entropy_formula(r"\def\x{1}", 0.5, 0.693)
    assert r"\def" not in formula and r"\textbackslash{}def" in formula
