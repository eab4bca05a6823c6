"""Live updates: every committed order change, fanned out in process to GraphQL subscribers.

`outbox_feed` reads each committed change from the outbox table (woken by PostgreSQL's
NOTIFY, by a commit in this process, or by a poll) and hands it to the worker's `hub`, which
offers it to every matching subscriber's bounded queue. See docs/subscriptions.md.
"""
