"""The jobrec service: settings, SQL store, importers, CLI and the HTTP API."""
