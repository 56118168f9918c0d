"""Use cases. The only home of policy: what exists, what conflicts, what a field defaults to."""
