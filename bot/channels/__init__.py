"""Channel adapters: each translates between its platform and the neutral types, nothing more."""
