"""Makes runs happen: the queue worker, the executor, the stream broker, cancellation."""
