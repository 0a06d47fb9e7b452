"""Every LaTeX table the report writes compiles with pdflatex (booktabs + graphicx, as the files' header says), with
no character pdflatex cannot typeset; the text conversion gives true minus signs, math-mode numbers and ranges."""

import json
import shutil
import subprocess

import pytest

from bench.complexity.schema import SCHEMA
from bench.report import ReportOptions, build_report
from bench.report.tables import Table, latex_text, to_latex
from tests.report_helpers import shared_run

PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex is not installed (Debian: apt-get install texlive-latex-recommended)")


def compile_tables(texs, folder):
    """pdflatex on one document that inputs every table (one run keeps the test fast); returns the log."""
    document = folder / "tables-document.tex"
    inputs = "\n\\clearpage\n".join(f"\\input{{{tex}}}" for tex in texs)
    document.write_text("\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n\\begin{document}\n"
                        f"{inputs}\n\\end{{document}}\n")
    result = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", document.name], cwd=folder,
                            capture_output=True, text=True, timeout=120)
    log = (folder / "tables-document.log").read_text(errors="replace")
    assert result.returncode == 0, f"the tables do not compile:\n{log[-3000:]}"
    return log


def test_latex_text_spells_numbers_signs_ranges_and_unicode():
    assert latex_text("−0.43%") == "$-0.43$\\,\\%"
    assert latex_text("29.00M~30.53M") == "$29.00$M--$30.53$M"
    assert latex_text("+0.51~+2.01") == "$+0.51$--$+2.01$"
    assert latex_text("−0.27%~–") == "$-0.27$\\,\\%--n/a"
    assert latex_text("Δ") == "$\\Delta$" and latex_text("–") == "--" and latex_text("α = 0.5") == "$\\alpha$ = $0.5$"
    assert latex_text("x265 & kodim01_a") == "x265 \\& kodim01\\_a"
    assert "Table" not in to_latex(Table("Complexity", ["A"], [["1"]])).split("\\caption{")[1].split("}")[0]


@needs_pdflatex
def test_every_generated_table_compiles_with_pdflatex(tmp_path_factory, kodak_image, tmp_path):
    run_dir = shared_run(tmp_path_factory, kodak_image)
    complexity = tmp_path / "complexity.json"
    complexity.write_text(json.dumps({
        "schema": SCHEMA, "device": "AMD EPYC (cpu, 1 torch thread)",
        "notes": ["Counting X reproduces the poster's 'KFLOPs' most closely: TinyLIC 435.89 vs 439.29 (−0.77%), "
                  "MPA 382.97~439.97 vs 384.84~441.52; α = 0..1, q = 1..8."],
        "mpa_sweep": {"points": [{"quality": q, "alpha": a, "q_task": 1 + 7 * a, "task": t,
                                  "kmacs_per_pixel": 300 + 10 * q - 50 * a}
                                 for q in (1.0, 8.0) for a in (0.0, 1 / 7, 1.0) for t in ("mse", "cls", "seg")]},
        "models": [
            {"name": "TinyLIC", "params": 28_338_211, "kmacs_per_pixel": 434.26,
             "latency_ms": {"encode": 600.0, "decode": 700.0}},
            {"name": "+ MLPs", "relative": True, "params": 507_328, "kmacs_per_pixel": -56.83, "latency_ms": None,
             "range": {"params": [507_328, 2_009_728], "kmacs_per_pixel": [-56.83, 0.0]}},
            {"name": "+ S & A", "relative": True, "params": 0, "kmacs_per_pixel": 0.0, "latency_ms": None},
            {"name": "MPA", "params": 29_001_363, "kmacs_per_pixel": 381.37, "latency_ms": None,
             "range": {"params": [29_001_363, 30_503_763], "kmacs_per_pixel": [381.37, 438.21]}},
            {"name": "jpeg_444", "params": None, "kmacs_per_pixel": None, "latency_ms": {"encode": 1.0, "decode": 0.5}},
        ]}))
    report = build_report(run_dir, tmp_path / "report", ReportOptions(complexity=(complexity,), visual=False,
                                                                      formats=("png",)))
    texs = sorted((tmp_path / "report" / "tables").glob("*.tex"))
    names = {tex.stem for tex in texs}
    assert {"bd-rate_kodak", "bd-rate_folder", "complexity", "latency_classical", "complexity_mpa_sweep_mse",
            "complexity_mpa_sweep_cls", "complexity_mpa_sweep_seg"} <= names
    assert len(texs) == len(report.tables)
    for tex in texs:
        text = tex.read_text()
        assert text.isascii(), f"{tex.name} holds non-ASCII characters"
        assert "\\textasciitilde" not in text and "\\caption{Table" not in text
    log = compile_tables(texs, tmp_path)
    assert "Missing character" not in log and "Overfull \\hbox" not in log
    assert f"({len(texs)} pages" in next(line for line in log.splitlines() if line.startswith("Output written"))
