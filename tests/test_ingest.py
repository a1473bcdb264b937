"""Ingest that mentors and admins can trust: incremental, deduplicated, prunable,
rebuildable without downtime, single-writer, and crash-safe."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.indexer import Indexer
from mentorkb.app import build
from mentorkb.cli import cli
from rag.backends import make_store
from rag.core.errors import IndexLockedError
from rag.core.settings import load_settings
from rag.store import index
from rag.store.manifest import Manifest

TOPICS = ["feedback", "agendas", "goals", "promotion", "remote calls", "networking"]


def write_docs(folder: Path, n: int, marker: str = "") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        name = f"note-{i:03d}.md"
        (folder / name).write_text(
            f"---\ntitle: Note {i} on {topic}\nmentor: Mentor {i % 5}\n---\n# Note {i}\n\n"
            f"## About {topic}\n\nMentor {i} writes about {topic} {marker}. Keep a journal of {topic} "
            f"and review it every month with your mentor so progress on {topic} stays visible.\n",
            encoding="utf-8",
        )
        names.append(name)
    return names


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(data_dir=tmp_path / "data", embed_batch=16)


@pytest.fixture
def indexer(settings, embedder) -> Indexer:
    return Indexer(settings, embedder)


def state(settings, embedder) -> tuple[dict[str, str], set[str], int]:
    """(source -> content hash from the manifest, hashes in the store, chunks in the store)."""
    live = index.current_generation(settings.data_dir)
    manifest = Manifest.of(live)
    store = make_store(settings, embedder, live)
    try:
        return {r.source: r.content_hash for r in manifest.all()}, store.content_hashes(), store.count()
    finally:
        manifest.close()
        store.close()


def sentence_hashes(settings, embedder) -> set[str]:
    """The content hashes of the documents whose sentences' vectors the live store holds."""
    store = make_store(settings, embedder, index.current_generation(settings.data_dir))
    try:
        return {m["content_hash"] for m in store.sentences.get(include=["metadatas"])["metadatas"]}
    finally:
        store.close()


def lexical_hashes(settings) -> set[str]:
    """The content hashes of the texts in the live lexical (BM25) index."""
    manifest = Manifest.of(index.current_generation(settings.data_dir))
    try:
        return manifest.lexical.hashes()
    finally:
        manifest.close()


def test_store_and_manifest_agree_after_add_update_and_delete(tmp_path, settings, indexer, embedder) -> None:
    docs = tmp_path / "docs"
    names = write_docs(docs, 5)
    report = indexer.sync([docs])
    assert sorted(report.added) == names and report.chunks_written >= 5
    (docs / names[0]).write_text("# Changed\n\nEntirely new advice about pairing sessions.\n", encoding="utf-8")
    (docs / names[1]).unlink()
    report = indexer.sync([docs], prune=True)
    assert report.updated == [names[0]] and report.removed == [names[1]] and len(report.unchanged) == 3
    by_source, stored, _ = state(settings, embedder)
    assert sorted(by_source) == sorted(set(names) - {names[1]})
    assert stored == set(by_source.values())  # no stale chunk of the old version or the deleted file
    assert lexical_hashes(settings) == stored  # and the same in the BM25 index
    assert sentence_hashes(settings, embedder) == stored  # and among the sentences' vectors


def test_same_text_under_two_names_is_stored_once(tmp_path, settings, indexer, embedder) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    (docs / "copy.md").write_bytes((docs / "note-000.md").read_bytes())
    indexer.sync([docs])
    by_source, stored, count = state(settings, embedder)
    assert by_source["copy.md"] == by_source["note-000.md"]
    assert len(stored) == 2
    manifest = Manifest.of(index.current_generation(settings.data_dir))
    assert manifest.get("copy.md").chunks == manifest.get("note-000.md").chunks
    # Removing one name keeps the text for the other, now cited under its name.
    assert indexer.remove(["note-000.md"]) == ["note-000.md"]
    by_source, stored, _ = state(settings, embedder)
    assert by_source["copy.md"] in stored
    hits = build(settings, embedder=embedder).assistant.retriever.search("journal of feedback reviewed every month")
    assert "note-000.md" not in {h.chunk.source for h in hits}
    assert "copy.md" in {h.chunk.source for h in hits}
    manifest.close()


def test_unchanged_tree_reembeds_nothing(tmp_path, settings, indexer) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 4)
    indexer.sync([docs])
    before = index.read_current(settings.data_dir)
    os.utime(docs / "note-001.md")  # touched, not changed: read and hashed, not embedded
    report = indexer.sync([docs])
    assert len(report.unchanged) == 4 and report.chunks_written == 0
    assert index.read_current(settings.data_dir) == before  # readers are not disturbed


def test_mentor_metadata_given_at_upload_wins(tmp_path, settings, indexer) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 1)
    indexer.sync([docs / "note-000.md"], overrides={"mentor": "Dana Upload", "tags": ("pairing",)})
    record = Manifest.of(index.current_generation(settings.data_dir)).get("note-000.md")
    assert (record.mentor, record.tags, record.title) == ("Dana Upload", ("pairing",), "Note 0 on feedback")


def test_full_rebuild_serves_old_index_until_switch_and_keeps_it_on_failure(tmp_path, settings, indexer, embedder) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 3, marker="with the old zebra rule")
    indexer.sync([docs])
    assistant = build(settings, embedder=embedder).assistant
    old_gen = index.current_generation(settings.data_dir)
    write_docs(docs, 3, marker="with the new giraffe rule")
    seen_during = []

    def ask_midway(i, n, source, status, chunks) -> None:
        hits = assistant.retriever.search("what is the zebra rule")
        seen_during.append(any("zebra" in h.chunk.text for h in hits))

    report = indexer.rebuild(progress=ask_midway)
    assert not report.failed and seen_during and all(seen_during)  # old index live throughout
    new_gen = index.current_generation(settings.data_dir)
    assert new_gen != old_gen
    hits = assistant.retriever.search("what is the giraffe rule")  # same Assistant, no restart
    assert any("giraffe" in h.chunk.text for h in hits)
    assert not any("zebra" in h.chunk.text for h in hits)

    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = indexer.rebuild([docs])
    assert [s for s, _ in report.failed] == ["broken.pdf"]
    assert index.current_generation(settings.data_dir) == new_gen  # the old index stays live
    assert sorted(p.name for p in (settings.data_dir / "generations").iterdir()) == [old_gen.name, new_gen.name]


def test_reindex_drops_documents_whose_files_are_gone(tmp_path, settings) -> None:
    docs = tmp_path / "docs"
    names = write_docs(docs, 3)
    data = str(settings.data_dir)
    runner = CliRunner()
    assert runner.invoke(cli, ["--data-dir", data, "ingest", str(docs)]).exit_code == 0
    (docs / names[2]).unlink()
    result = runner.invoke(cli, ["--data-dir", data, "reindex", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["removed"] == [names[2]]
    listed = runner.invoke(cli, ["--data-dir", data, "list"])
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == names[:2]
    removed = runner.invoke(cli, ["--data-dir", data, "remove", names[0], "nope.md"])
    assert removed.exit_code == 1 and f"removed {names[0]}" in removed.stdout
    assert "error: nope.md: not in the index" in removed.stderr


def test_bad_inputs_fail_alone_with_one_line_each(tmp_path, settings) -> None:
    from fpdf import FPDF
    from pypdf import PdfWriter

    docs = tmp_path / "docs"
    write_docs(docs, 1)
    (docs / "empty.md").write_text("", encoding="utf-8")
    (docs / "binary.md").write_bytes(bytes(range(256)) * 4)
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj garbage")
    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("pw")
    with (docs / "encrypted.pdf").open("wb") as f:
        writer.write(f)
    scan = FPDF()
    scan.add_page()
    scan.rect(10, 10, 40, 40)
    scan.output(str(docs / "scan.pdf"))
    (docs / "latin1.txt").write_bytes("Notes on feedback\n\nCafé chats with my mentor helped.".encode("cp1252"))
    (docs / "huge.md").write_bytes(b"# Big\n\n" + b"word " * (300 * 1024))
    (docs / "sheet.xlsx").write_bytes(b"PK")
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    runner = CliRunner()
    result = runner.invoke(cli, ["--data-dir", str(settings.data_dir), "ingest", "--json", str(docs)],
                           env={"MENTORKB_MAX_FILE_MB": "1"})
    assert result.exit_code == 1
    errors = dict(re.findall(r"^error: (\S+): (.+)$", result.stderr, re.M))
    assert errors.pop("corrupt.pdf").startswith("not a readable PDF")
    assert errors == {
        "binary.md": "looks like a binary file, not text",
        "empty.md": "no text found in document",
        "encrypted.pdf": "PDF is encrypted",
        "huge.md": "file is 1.5 MB, over the 1 MB limit (MENTORKB_MAX_FILE_MB)",
        "loop": "symlink loop; not followed",
        "scan.pdf": "no extractable text; OCR is not supported",
    }
    assert "skipped: sheet.xlsx: unsupported file type '.xlsx'" in result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["added"]) == ["latin1.txt", "note-000.md"]


def test_second_writer_gets_a_clear_error_not_a_hang(tmp_path, settings, indexer) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from rag.store.lock import writer_lock\n"
         "with writer_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)",
         str(settings.lock_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        docs = tmp_path / "docs"
        write_docs(docs, 1)
        with pytest.raises(IndexLockedError, match=rf"another process is writing the index \(pid {holder.pid}\)"):
            indexer.sync([docs])
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert indexer.sync([docs]).added == ["note-000.md"]  # the lock died with its holder


def test_kill_9_mid_ingest_loses_nothing_and_the_next_run_finishes(tmp_path, settings, embedder) -> None:
    docs = tmp_path / "docs"
    names = write_docs(docs, 40)
    exe = Path(sys.executable).with_name("mentorkb")
    env = {**os.environ, "MENTORKB_EMBED_BATCH": "4", "HF_HUB_OFFLINE": "1"}
    for kill_after in (6, 23):
        proc = subprocess.Popen([str(exe), "--data-dir", str(settings.data_dir), "ingest", str(docs)],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        done = 0
        for line in proc.stderr:
            if line.startswith("["):
                done += 1
            if done >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        by_source, stored, _ = state(settings, embedder)
        assert set(by_source) <= set(names)
        assert set(by_source.values()) <= stored  # every committed document has its chunks
        assert set(by_source.values()) <= lexical_hashes(settings)  # in both indexes
    result = subprocess.run([str(exe), "--data-dir", str(settings.data_dir), "ingest", str(docs)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    by_source, stored, count = state(settings, embedder)
    assert sorted(by_source) == names
    assert stored == set(by_source.values()) == lexical_hashes(settings)  # and no orphan left
    live = index.current_generation(settings.data_dir)
    assert not (live / "dirty").exists()
    assert count == sum(r.chunks for r in Manifest.of(live).all())


def test_put_many_writes_what_one_put_per_document_writes(tmp_path: Path) -> None:
    from rag.core.types import Chunk
    from rag.store.manifest import DocumentRecord

    def doc(source: str, digest: str, words: str) -> tuple[DocumentRecord, list[Chunk]]:
        chunks = [Chunk(f"{digest}-{i:04d}", f"{words} part {i}", source, source.title(), "Intro", None, "",
                        digest) for i in range(2)]
        return DocumentRecord(source, f"/docs/{source}", digest, source.title(), "", ("a",), "", "md", 2, 10, 1,
                              1.0), chunks

    first = [doc("a.md", "h1", "walk and talk"), doc("b.md", "h2", "feedback sandwich")]
    again = [doc("c.md", "h1", "walk and talk again"), doc("d.md", "h3", "walk talk feedback")]
    one, many = Manifest(tmp_path / "one.sqlite3"), Manifest(tmp_path / "many.sqlite3")
    try:
        for record, chunks in first + again:
            one.put(record, chunks)
        many.put_many(first)
        many.put_many(again)  # h1 again: its chunks are replaced, not added twice
        for m in (one, many):
            assert len(m.chunks()) == 6
        assert one.all() == many.all() and one.chunks() == many.chunks()
        # The same chunks found. Scores (so ties' order) may differ: like Lucene's,
        # Tantivy's BM25 statistics count replaced chunks until their segment merges.
        hits = [sorted((c for c, _ in m.search(["walk", "feedback"], 10)), key=str) for m in (one, many)]
        assert hits[0] == hits[1] == sorted(one.chunks(), key=str)
    finally:
        one.close()
        many.close()


def test_lexical_chunks_no_document_claims_are_swept_by_the_next_writer(tmp_path, settings, indexer) -> None:
    from rag.core.types import Chunk

    docs = tmp_path / "docs"
    write_docs(docs, 3)
    indexer.sync([docs])
    live = index.current_generation(settings.data_dir)
    manifest = Manifest.of(live)
    # What a writer killed between the lexical commit and the manifest's leaves behind.
    manifest.lexical.replace({"orphan": [Chunk("orphan-0000", "the okapi rule", "gone.md", "Gone", "", None, "",
                                               "orphan")]})
    (live / "dirty").touch()
    assert [c.source for c, _ in manifest.search(["okapi"], 5)] == ["gone.md"]
    manifest.close()
    indexer.sync([docs])
    manifest = Manifest.of(live)
    try:
        assert manifest.search(["okapi"], 5) == []
        assert manifest.lexical.hashes() == manifest.hashes()
    finally:
        manifest.close()


def test_the_manifest_keeps_the_time_of_its_last_change(tmp_path: Path) -> None:
    from rag.store.manifest import DocumentRecord

    record = DocumentRecord("a.md", "/docs/a.md", "h1", "A", "", (), "", "md", 0, 10, 1, 5.0)
    with Manifest(tmp_path / "m.sqlite3") as manifest:
        assert manifest.changed_at() is None
        manifest.put(record)
        put = manifest.changed_at()
        assert put > 5.0
        manifest.remove(["a.md"])
        assert manifest.changed_at() > put  # a removal is a change too
        manifest.put(record)
        manifest.db.execute("DELETE FROM changes")  # a manifest written before this was kept
        assert manifest.changed_at() == 5.0  # its latest ingest


def test_a_same_named_file_from_another_folder_replaces_nothing_without_replace(
        tmp_path, settings, indexer, embedder) -> None:
    first, other = tmp_path / "first", tmp_path / "other"
    names = write_docs(first, 2)
    write_docs(other, 1, marker="from another folder")  # note-000.md again, another text
    indexer.sync([first])

    def stored():
        with Manifest.of(index.current_generation(settings.data_dir)) as manifest:
            return state(settings, embedder), lexical_hashes(settings), manifest.all()

    before = stored()
    report = indexer.sync([other])
    theirs, ours = (first / "note-000.md").resolve(), (other / "note-000.md").resolve()
    assert report.failed == [("note-000.md", f"already indexed from {theirs}, not from {ours}; "
                                             "`mentorkb ingest --replace` replaces it")]
    assert stored() == before  # chunks, vectors, BM25 and the manifest entry untouched
    assert indexer.sync([first]).unchanged == names  # the same folder again: still its own
    (first / "note-001.md").write_text("# Changed\n\nNew advice about pairing sessions.\n", encoding="utf-8")
    assert indexer.sync([first]).updated == ["note-001.md"]

    report = indexer.sync([other], replace=True)
    assert report.updated == ["note-000.md"] and not report.failed
    with Manifest.of(index.current_generation(settings.data_dir)) as manifest:
        assert manifest.get("note-000.md").path == str(ours)
        # An origin not recorded (as a manifest might hold) is adopted, not refused.
        with manifest.db:
            manifest.db.execute("UPDATE documents SET path = '' WHERE source = 'note-000.md'")
    assert indexer.sync([first]).updated == ["note-000.md"]
    with Manifest.of(index.current_generation(settings.data_dir)) as manifest:
        assert manifest.get("note-000.md").path == str(theirs)
    assert indexer.refresh().failed == []  # a reindex reads each document from its own origin
    assert indexer.rebuild().failed == []
    assert indexer.rebuild([other]).failed == [("note-000.md", f"already indexed from {theirs}, not from {ours}; "
                                                               "`mentorkb ingest --replace` replaces it")]


def test_two_files_for_one_source_id_in_one_run_fail(tmp_path, indexer) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_docs(a, 1)
    write_docs(b, 1, marker="another text")
    report = indexer.sync([a, b])
    assert report.added == ["note-000.md"]
    [(source, reason)] = report.failed
    assert source == "note-000.md" and reason.startswith(f"two files for one document: {(a / 'note-000.md').resolve()}")
