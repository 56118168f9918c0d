"""What every backend decides alike, as pure functions: no I/O, no driver, no awaits.

A backend reads its rows, asks the function here what follows from them (a run's new status,
its thread's status, the error a client sees) and writes the answer with its own SQL inside its
own transaction. So the backends differ only in their queries, and a new backend writes queries
only. One module per subject, named as the backend modules that apply it.
"""
