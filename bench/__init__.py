"""The benchmark suite: the service under wrk beside raw floors, measured in one run (issue 6).

Run `python -m bench --help`. Not part of the test run; CI never starts it.
"""
