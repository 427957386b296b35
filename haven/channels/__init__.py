"""Channel adapters: thin translations between a messaging channel and the intake service,
and the senders the outbox uses. Channels never import each other, the console or the CLI."""
