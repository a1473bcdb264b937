"""The human side, in the application database (SQLite or any SQLAlchemy URL):
accounts and roles, handoffs to mentors and their notifier, the activity log and
the per-user rate limits.
"""
