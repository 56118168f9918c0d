"""The HTTP edge: validate, call one service, serialise. No SQL and no graph calls here."""
