"""`rules.filters` conditions as SQLite SQL, over the JSON functions `database.py` registers."""

from __future__ import annotations

from collections.abc import Sequence

from distaff.backends.rules.filters import Condition
from distaff.backends.sqlite.database import dump


def where_clause(conditions: Sequence[Condition]) -> tuple[str, list[object]]:
    """A WHERE clause (without the keyword) true where every condition is, and its parameters."""
    clauses, params = ["1=1"], list[object]()
    for c in conditions:
        column = f'"{c.column}"'
        if c.kind == "equals":
            clauses.append(f"{column} = ?")
            params.append(c.value)
        elif c.kind == "one_of":
            clauses.append(f"{column} IN ({','.join('?' * len(c.value))})")
            params.extend(c.value)
        elif c.kind == "contains":
            clauses.append(f"json_contains({column}, ?)")
            params.append(dump(c.value))
        elif c.kind == "substring":
            clauses.append(f"instr(lower({column}), lower(?)) > 0")
            params.append(c.value)
        else:
            clauses.append(f"auth_matches({column}, ?)")
            params.append(dump(c.value))
    return " AND ".join(clauses), params
