"""The conversation, channel-neutral: one module per journey, one ordered routing table."""
