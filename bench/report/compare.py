"""series -> like-for-like comparisons: the form (:mod:`bench.metrics.forms`) a run curve is read in against a
published curve, for figures and BD-rates, and the sentences that say which forms and images were compared.

Against a published curve, a run curve is read in the published curve's form (payload bpp and float PSNR against
the official learned-codec curves; file bpp and 8-bit PSNR against the classical ones); where the run lacks that form
the comparison is refused with the reason. Run curves are compared with each other in the suite's own form (file
bpp, 8-bit reconstruction). A forced form (``--form RATE,RECONSTRUCTION``) reads every run curve in that form and
says that the comparison may not be like for like.

A figure panel draws its run curves in one form: the one most of its published curves share (that every run curve
has); a published curve in another form is marked with a dagger, unless every run curve has the same values in both
forms (a classical codec: its file is its payload, its 8-bit output its float one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from bench.metrics.forms import EIGHT_BIT, FLOAT, OWN_FORM, RATE_FORMS, RECONSTRUCTION_FORMS, Form, ImageSet
from bench.errors import BenchError
from bench.report.series import Series

DAGGER = "\u2020"


def parse_form(text: str | None) -> Form | None:
    """``--form``: ``auto`` (None) or ``RATE,RECONSTRUCTION`` such as ``payload,float`` or ``file,8-bit``.

    Raises:
        BenchError: anything else.
    """
    if text is None or text == "auto":
        return None
    rate, _, reconstruction = text.partition(",")
    reconstruction = {"8bit": EIGHT_BIT, "uint8": EIGHT_BIT}.get(reconstruction.strip(), reconstruction.strip())
    if rate.strip() not in RATE_FORMS or reconstruction not in RECONSTRUCTION_FORMS:
        raise BenchError(f"--form must be auto or RATE,RECONSTRUCTION with RATE in {'|'.join(RATE_FORMS)} and "
                         f"RECONSTRUCTION in {'|'.join(RECONSTRUCTION_FORMS)} (e.g. payload,{FLOAT}), got {text!r}")
    return Form(rate.strip(), reconstruction)


@dataclass(frozen=True)
class Comparison:
    """The forms one comparison reads its two curves in, or why it cannot be made (``reason``)."""

    test_form: Form | None
    reference_form: Form | None
    reason: str = ""
    forced: bool = False

    @property
    def possible(self) -> bool:
        return not self.reason


def compare_forms(test: Series, reference: Series, metric: str, forced: Form | None = None) -> Comparison:
    """How ``test`` (a run curve) compares with ``reference`` on ``metric`` (see the module docstring)."""
    if reference.published:
        if reference.definitions is None:
            return Comparison(None, None, f"the definitions of {reference.label} are unknown (add meta.definitions "
                                          f"to its file or an entry to results/published/definitions.toml)")
        reference_form = reference.definitions.form(metric)
    else:
        reference_form = forced or OWN_FORM
    test_form = forced or reference_form
    for curve, form in ((test, test_form), (reference, reference_form)):
        if not curve.has(metric, form):
            return Comparison(test_form, reference_form, f"{curve.label} has no {form.text(metric)}"
                              + ("" if curve.published else f" (columns {form.rate_key}, {form.key(metric)})"),
                              forced is not None)
    return Comparison(test_form, reference_form, forced=forced is not None)


@dataclass
class PanelForm:
    """The form a figure panel draws its run curves in, and the published curves drawn in another form."""

    form: Form
    forced: bool = False
    marked: list[Series] = field(default_factory=list)
    unknown: list[Series] = field(default_factory=list)
    drawn: int = 0  # published curves of known definitions on the panel


def panel_form(run: Sequence[Series], published: Sequence[Series], metric: str,
               forced: Form | None = None) -> PanelForm:
    """The run curves' form on one panel (see the module docstring); ``published`` are the curves it draws."""
    known = [item for item in published if item.definitions is not None]
    unknown = [item for item in published if item.definitions is None]
    if forced is not None:
        form = forced
    else:
        counts = Counter(item.form_of(metric) for item in known)
        drawn = [item for item in run if any(item.has(metric, f) for f in (OWN_FORM, *counts))]
        ranked = sorted(counts, key=lambda f: (-counts[f], f != OWN_FORM))
        form = next((f for f in ranked if all(item.has(metric, f) for item in drawn)), OWN_FORM)
    marked = [item for item in known if item.form_of(metric) != form
              and not all(curve.same_in(metric, form, item.form_of(metric)) for curve in run if curve.has(metric, form))]
    return PanelForm(form, forced is not None, marked, unknown, len(known))


def images_differ(first: ImageSet | None, second: ImageSet | None) -> bool:
    return (first is not None and second is not None
            and (first.count != second.count or bool(first.limit) != bool(second.limit)))


def images_sentence(run: Sequence[Series], published: Sequence[Series]) -> str:
    """``Run curves: kodak: 4 images, --limit 4. Published curves: kodak: 24 images.``"""
    run_sets = list(dict.fromkeys(item.images.text() for item in run if item.images is not None))
    published_sets = list(dict.fromkeys(item.images.text() for item in published if item.images is not None))
    text = f"Run curves: {'; '.join(run_sets)}." if run_sets else ""
    if published_sets:
        text += f" Published curves: {'; '.join(published_sets)}."
        if any(images_differ(a.images, b.images) for a in run for b in published):
            text += " The run and the published curves average different image sets."
    return text.strip()


def images_subtitle(run: Sequence[Series], published: Sequence[Series]) -> str:
    """A figure's second title line when the run's images are not the published curves' (a ``--limit``, another
    count): ``run: 4 images (--limit 4); published: 24 images``; empty otherwise."""
    run_images = next((item.images for item in run if item.images is not None), None)
    counts = sorted({item.images.count for item in published if item.images is not None and item.images.count})
    if run_images is None or not (run_images.limit or any(c != run_images.count for c in counts)):
        return ""
    text = f"run: {run_images.count} image{'s' if run_images.count != 1 else ''}"
    text += f" (--limit {run_images.limit})" if run_images.limit else ""
    if counts:
        text += "; published: " + ", ".join(str(c) for c in counts) + " images"
    return text


def panel_sentence(label: str, metric: str, panel: PanelForm) -> str:
    """What one panel compares: the run curves' form, and the marked published curves' form."""
    how = ("forced with --form" if panel.forced else "the form of most of its published curves" if panel.drawn
           else "the suite's own form")
    text = f"{label}: run curves in {panel.form.text(metric)} ({how})."
    for item in panel.marked:
        text += (f" {DAGGER} {item.label}: {item.form_of(metric).text(metric)}, not the run curves' form; the BD "
                 f"table compares each run curve in the form of its anchor.")
    if panel.unknown:
        text += " Definitions unknown (not comparable): " + ", ".join(item.label for item in panel.unknown) + "."
    return text
