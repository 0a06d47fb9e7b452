"""report -> index.html: one self-contained page (images inlined as data URIs, no script, no external resource)
with every figure and table and the run's metadata."""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Any, Sequence

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #333; }
.note { font-size: 0.85em; color: #555; margin: 0.2em 0; }
.meta td { text-align: left; vertical-align: top; } code, pre { font-size: 0.85em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
nav a { margin-right: 1em; }
.table-scroll { overflow-x: auto; max-width: 100%; }
"""


def data_uri(path: Path, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def file_links(files: dict[str, Path], base: Path) -> str:
    links = [f'<a href="{escape(path.relative_to(base).as_posix())}">{escape(fmt.upper())}</a>'
             for fmt, path in files.items()]
    return " · ".join(links)


def figure_html(title: str, files: dict[str, Path], base: Path, caption: str = "") -> str:
    """A figure inlined as PNG (or SVG when the report has no PNG), with links to every file of it."""
    if "png" in files:
        image = f'<img alt="{escape(title)}" src="{data_uri(files["png"])}">'
    elif "svg" in files:
        image = f'<img alt="{escape(title)}" src="{data_uri(files["svg"], "image/svg+xml")}">'
    else:
        image = ""
    text = f"{escape(title)}. {escape(caption)} " if caption else f"{escape(title)}. "
    return f"<figure>{image}<figcaption>{text}{file_links(files, base)}</figcaption></figure>"


def metadata_html(run_id: str, run_dir: Path, suite: dict[str, Any], environment: dict[str, Any],
                  codecs: dict[str, dict[str, Any]], datasets: str = "") -> str:
    """Run, suite, environment and codec configurations as a table plus the raw JSON.

    Args:
        datasets: what the run's curves average over (:meth:`bench.rundata.RunData.describe_datasets`); the suite
            file's free-text description is left to the JSON, since a run may override its datasets.
    """
    packages = environment.get("packages", {})
    machine = environment.get("machine", {})
    rows = [
        ("Run", f"{run_id} ({run_dir})"),
        ("Suite", str(suite.get("name", "?"))),
        ("Datasets", datasets or ", ".join(d.get("name", "?") + (f" (limit {d['limit']})" if d.get("limit") else "")
                                           for d in suite.get("datasets", []))),
        ("Metrics", ", ".join(suite.get("metrics", []))),
        ("Device", str(suite.get("device", "?"))),
        ("mpa-bench", f"{environment.get('mpa_bench', '?')} (git {environment.get('git_commit') or 'unknown'})"),
        ("Python", str(environment.get("python", "?"))),
        ("Packages", ", ".join(f"{name} {value}" for name, value in packages.items() if value)),
        ("Machine", f"{machine.get('cpu', '?')}; {machine.get('platform', '')}; "
                    f"GPU {machine.get('cuda_device') or 'none'}"),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    codec_rows = "".join(
        f"<tr><td>{escape(label)}</td><td>{escape(info['codec'])}</td><td><code>{escape(info['config_hash'])}</code>"
        f"</td><td>{escape(', '.join(f'{k} {v}' for k, v in info['versions'].items()))}</td></tr>"
        for label, info in codecs.items()
    )
    codec_table = ("<div class='table-scroll'><table><thead><tr><th>Label</th><th>Codec</th><th>Config hash</th>"
                   f"<th>Versions</th></tr></thead><tbody>{codec_rows}</tbody></table></div>")
    raw = json.dumps({"suite": suite, "environment": environment}, indent=2, default=str)
    return (f"<table class='meta'>{body}</table>{codec_table}"
            f"<details><summary>Resolved suite and environment (JSON)</summary><pre>{escape(raw)}</pre></details>")


def page(title: str, sections: Sequence[tuple[str, str, str]], subtitle: str = "") -> str:
    """The whole page; ``sections`` are (anchor id, heading, inner HTML)."""
    nav = "".join(f'<a href="#{escape(anchor)}">{escape(heading)}</a>' for anchor, heading, _ in sections)
    body = "".join(f'<section id="{escape(anchor)}"><h2>{escape(heading)}</h2>{inner}</section>'
                   for anchor, heading, inner in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class='note'>{escape(subtitle)}</p><nav>{nav}</nav>{body}</body></html>\n"
    )


def notes_html(notes: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(note)}</li>" for note in notes) + "</ul>" if notes else ""
