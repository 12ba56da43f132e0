"""The package serves the front end from mjwidgets/static: it must match the sources in js/."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_static_files_match_the_js_sources():
    sources = sorted(p for p in (ROOT / "js").iterdir() if p.suffix in (".js", ".css"))
    assert sources, "no front-end sources found"
    for source in sources:
        built = ROOT / "mjwidgets" / "static" / source.name
        assert built.exists(), f"{built} missing: cp js/{source.name} mjwidgets/static/"
        assert built.read_bytes() == source.read_bytes(), f"{built.name} is stale: re-copy it"
