"""The ground floor every other room stands on: shared types, the Protocols that
backends and stores implement, errors, settings (`MENTORKB_*`), and text helpers
(terms, the Markdown-aware sentence splitter). It imports nothing else from MentorKB.
"""
