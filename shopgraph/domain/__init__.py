"""The shop's write operations: rules, transactions of named steps, domain errors."""
