"""The run loop and its pure decision parts."""
