"""The Agent Streaming Protocol v2 ("thread-centric streaming"), as a projection of the
engine's own run events.

A run the v2 stream shows (every v2 run, every resumable v1 run, and any run on a thread a v2
stream watches) gets a `Tape` as it starts: the executor feeds it langgraph's stream parts,
`projection.RunProjection` turns them into protocol events (lifecycle, values, messages,
tools, input requests...), and `hub.EventHub` numbers them per thread, writes them to the
backend's `EventLog` and hands them to this process's readers. Readers elsewhere are told by
the database and read the log; a reader joining late or after a restart reads it too. The
executor stays one: v2 adds a consumer of its events, not a second way to run a graph.
"""
