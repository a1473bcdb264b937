"""The ground floor every other room stands on: shared types, the Protocols that
backends and stores implement, errors, settings (`MENTORKB_*`), text helpers
(terms, the Markdown-aware sentence splitter), the JSON-lines reader (`jsonl`) and
the dot product (`vectors`). It imports nothing else from MentorKB.
"""
