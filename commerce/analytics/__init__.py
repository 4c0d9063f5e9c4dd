"""Stream analytics: the gateway's live room counters joined with commerce's own order numbers."""
