"""The HTTP API (FastAPI): thin routes over `app.recommender` and the repositories."""
