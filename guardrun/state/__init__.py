"""What is saved before acting, and how: capture, store, redaction, agent adapters."""
