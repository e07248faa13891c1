"""docs/stores.md shows the store profiles as they are in the code: the matrix there is
rendered here from the profiles (and moto's measured capabilities) and must match."""

from __future__ import annotations

from pathlib import Path

from s3stream.store.capabilities import ALGORITHMS, FACTS, Capabilities, Support
from s3stream.store.profiles import PROFILES, SEAWEEDFS_RUN, UNDOCUMENTED
from tests.support.moto import MOTO_CAPABILITIES

DOC = Path(__file__).resolve().parent.parent / "docs" / "stores.md"
SHORT = {"crc64nvme": "64", "crc32c": "32C", "crc32": "32", "sha256": "256"}
HEADINGS = {
    "checksums": "checksums",
    "multipart": "multipart",
    "list_parts_checksums": "ListParts echo",
    "trailers": "trailers",
    "if_none_match_put": "INM Put",
    "if_none_match_complete": "INM Complete",
    "if_match_put": "IM Put",
    "if_match_delete": "IM Delete",
    "upload_part_copy": "PartCopy",
    "max_parts": "parts",
    "equal_parts": "equal parts",
    "addressing": "addressing",
}
MEASURED = "measured here"


def cell(caps: Capabilities, fact: str) -> str:
    if caps.source(fact) == UNDOCUMENTED:
        return "?"
    if fact == "checksums":
        groups: dict[Support, list[str]] = {}
        for algorithm in ALGORITHMS:
            groups.setdefault(caps.support(algorithm), []).append(SHORT[algorithm.value])
        return "; ".join(f"{s.value} {' '.join(names)}" for s, names in groups.items())
    if fact == "multipart":
        kinds: dict[str, list[str]] = {}
        for algorithm in ALGORITHMS:
            kinds.setdefault(caps.whole(algorithm), []).append(SHORT[algorithm.value])
        shown = [f"{k.replace('_object', '')} {' '.join(v)}" for k, v in kinds.items()]
        return "; ".join(s for s in shown if not s.startswith("none")) or "none"
    value = getattr(caps, fact)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "?" if value is None else str(value)


def render() -> str:
    moto = Capabilities.from_json({**MOTO_CAPABILITIES, "name": "moto"})
    stores = {**PROFILES, "moto": moto.with_facts(MEASURED, **{f: getattr(moto, f) for f in FACTS})}
    sources: list[str] = []
    lines = [
        "| store | " + " | ".join(HEADINGS[f] for f in FACTS) + " |",
        "| --- |" + " --- |" * len(FACTS),
    ]
    for name, caps in stores.items():
        cells = []
        for fact in FACTS:
            source = caps.source(fact)
            text = cell(caps, fact)
            if source in (SEAWEEDFS_RUN, MEASURED):
                text += " [d]"
            elif source.startswith("https://"):
                if source not in sources:
                    sources.append(source)
                text += f" [{sources.index(source) + 1}]"
            cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"[{n}]: {url}  " for n, url in enumerate(sources, 1)]
    return "\n".join(lines) + "\n"


def test_the_matrix_in_docs_stores_md_matches_the_profiles() -> None:
    assert render() in DOC.read_text()
