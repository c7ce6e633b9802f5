"""Real-time delivery: the wake-up bus and the waiting/streaming logic."""
