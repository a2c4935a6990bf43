"""Channel adapters, one folder per channel (adapter, client, error table, capabilities). Import bot.core only."""
