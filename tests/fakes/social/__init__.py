"""Fake social-login providers: real HTTP servers on free ports that sign tokens with keys they
publish at their JWKS URL, so the code under test runs exactly as against the real provider."""
