"""The command line: parse, call a service, render. No heavy imports at module level."""
