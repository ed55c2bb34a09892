"""What a run tells the world: events, history, hooks, notifications, the live file, metrics."""
