"""The merge engine: sandboxing, literal candidate text, caps and preview marks."""

from __future__ import annotations

from datetime import date

import pytest

from recruiter.errors import TemplateError
from recruiter.services.rendering import (
    Boilerplate,
    CandidateFields,
    LetterContext,
    check_template,
    render_letter,
)
from recruiter.services.shipped import shipped_boilerplates


def context(**overrides) -> LetterContext:  # noqa: ANN003
    values = dict(candidate=CandidateFields(first_name="Zoë", last_name="Lefebvre",
                                            full_name="Zoë Lefebvre", stage="interviewed"),
                  note="The way you calmed a room of stranded travellers stayed with us.",
                  differentiator="hands-on aviation experience",
                  position_title="Operations Coordinator", position_location="Vancouver",
                  organization_name="Harbour Air Logistics", sender_name="Jordan Reyes",
                  sender_title="Operations Manager", applicant_count=30, interviewed_count=3,
                  today=date(2026, 11, 22), locale="en_CA")
    values.update(overrides)
    return LetterContext(**values)


def body(source: str, **kw) -> str:  # noqa: ANN003
    return render_letter(Boilerplate("Subject", source), context(), **kw).text


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ note.__class__ }}",
    "{{ '{0.__class__}'.format(note) }}",
    "{{ '{0.__class__.__mro__}'.format_map({'0': note}) }}",
    "{{ note|attr('__class__') }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ lipsum.__globals__ }}",
    "{{ range.__self__ }}",
    "{% set x = note.upper.__self__ %}{{ x }}",
    "{{ 'a' * 50000000 }}",
    "{{ ['a'] * 50000000 }}",
    "{{ 9 ** 9999999 }}",
    "{% for i in range(100000) %}x{% endfor %}",
    "{{ 'ab'|replace('a', 'x' * 90000)|replace('x', 'yy') }}",
])
def test_sandbox_escapes_fail(source: str) -> None:
    """Known sandbox escapes and resource bombs are refused with a TemplateError."""
    with pytest.raises(TemplateError):
        body(source)
    with pytest.raises(TemplateError):
        body(source, preview=True)


def test_render_time_is_capped() -> None:
    """A template that loops without output is stopped at the time cap."""
    source = ("{% for a in range(999) %}{% for b in range(999) %}{% for c in range(999) %}"
              "{% endfor %}{% endfor %}{% endfor %}")
    with pytest.raises(TemplateError, match="too long"):
        body(source, max_seconds=0.2)


def test_output_size_is_capped() -> None:
    """A letter longer than the output cap is refused, naming the cap."""
    with pytest.raises(TemplateError, match="longer than 1,000"):
        render_letter(Boilerplate("s", "{% for i in range(999) %}{{ note }}{% endfor %}"),
                      context(), max_output=1_000)


@pytest.mark.parametrize("note", ["{{ 7*7 }}", "{% raw %}x", "<script>alert(1)</script>",
                                  "**bold** [link](https://evil.example) <b>hi</b> &amp;"])
def test_notes_stay_literal(note: str) -> None:
    """Template syntax, Markdown and HTML in a note appear as written, never evaluated."""
    rendered = render_letter(Boilerplate("s", "Dear {{ candidate.first_name }},\n\n{{ note }}"),
                             context(note=note))
    assert note in rendered.text
    assert "49" not in rendered.text
    assert "<script" not in rendered.html and "<b>" not in rendered.html
    assert "<a " not in rendered.html and "<strong>" not in rendered.html


def test_names_and_differentiator_are_data() -> None:
    """A name that looks like a template renders literally, escaped in HTML."""
    fields = CandidateFields(first_name="{{ 7*7 }}<i>")
    rendered = render_letter(Boilerplate("Hi {{ candidate.first_name }}",
                                         "{{ candidate.first_name }} {{ differentiator }}"),
                             context(candidate=fields, differentiator="{{ note }}"))
    assert rendered.subject == "Hi {{ 7*7 }}<i>"
    assert rendered.text.strip() == "{{ 7*7 }}<i> {{ note }}"
    assert "&lt;i&gt;" in rendered.html


def test_send_mode_refuses_unfilled_fields() -> None:
    """Send mode raises on a field nobody provides; preview marks it visibly."""
    with pytest.raises(TemplateError, match="not filled"):
        body("Dear {{ candidate.nickname }}")
    preview = render_letter(Boilerplate("s", "Dear {{ candidate.nickname }}, {{ salary }}"),
                            context(), preview=True)
    assert "⟦nickname⟧" in preview.text and "⟦salary⟧" in preview.text
    assert preview.missing == ("nickname", "salary")


def test_syntax_error_names_the_line() -> None:
    """A template syntax error reports its line number."""
    with pytest.raises(TemplateError) as info:
        body("Dear x,\n\nfine\n{% if note %}\nno end")
    assert info.value.lineno == 5
    assert "line 5" in str(info.value)


def test_markdown_becomes_sanitised_html() -> None:
    """Boilerplate Markdown renders to HTML; raw HTML in a boilerplate is shown as text."""
    rendered = render_letter(Boilerplate("s", "**Thank you**\n\n<img src=x onerror=alert(1)>"),
                             context())
    assert "<strong>Thank you</strong>" in rendered.html
    assert "<img" not in rendered.html


def test_date_is_formatted_for_the_locale() -> None:
    """The date merge field uses Babel with the letter's locale."""
    assert body("{{ date }}").strip() == "November 22, 2026"
    french = render_letter(Boilerplate("s", "{{ date }}"), context(locale="fr_CA"))
    assert french.text.strip() == "22 novembre 2026"


def test_check_template_lists_unknown_fields() -> None:
    """Unknown merge fields are reported by name; known ones and loop variables are not."""
    source = Boilerplate("{{ position.title }}",
                         "{{ candidate.first_name }} {{ salary }} {% for x in range(2) %}"
                         "{{ x }}{% endfor %}")
    assert check_template(source) == ["salary"]


@pytest.mark.parametrize("name", sorted(shipped_boilerplates()))
def test_shipped_letters_read_naturally_without_a_note(name: str) -> None:
    """A shipped letter without a note has no empty paragraph or dangling phrase."""
    shipped = shipped_boilerplates()[name]
    with_note = render_letter(shipped.source, context())
    without = render_letter(shipped.source, context(note=""))
    assert context().note in with_note.text
    assert "\n\n\n" not in without.text
    assert without.html.count("<p>") == with_note.html.count("<p>") - 1
    assert "<p></p>" not in without.html
    assert "30 applications" in without.text
    assert "hands-on aviation experience" in without.text
    assert "Jordan Reyes" in without.text


def test_shipped_letters_without_differentiator_stay_truthful() -> None:
    """No differentiator yields a general, still job-related sentence, not a blank."""
    for shipped in shipped_boilerplates().values():
        text = render_letter(shipped.source, context(differentiator="")).text
        assert "brings ," not in text and "brings  " not in text
        assert "most closely matched" in text
