"""The pure core: SLO definitions, budget and burn-rate math, query planning. No I/O here."""
