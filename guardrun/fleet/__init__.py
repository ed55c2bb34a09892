"""Several guardrun runs on one machine: live files, the shared budget, turns, the lease."""
