"""The H5 pages (viewer, host console, live list) and the offline API docs.

The pages are static files under `web/` (templates, our own ES modules, and npm packages that
`make` copies into `web/static/vendor/`); this package only serves them with a strict
Content-Security-Policy and the little configuration a page needs (where the gateway is).
"""
