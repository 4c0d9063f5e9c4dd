"""Social login: provider verification (one module per provider), linking, the route."""
