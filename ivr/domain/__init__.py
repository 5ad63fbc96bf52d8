"""Pure rules of the reporting line: no I/O, nothing of ours but itself."""
