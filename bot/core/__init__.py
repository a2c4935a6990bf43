"""The neutral core: types, i18n, sessions, crypto, routing, Ctx/Route/Services, screen helpers, the Core. Imports db only."""
