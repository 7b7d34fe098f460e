"""The ssnas REST service: FastAPI app, database tables, storage and services."""
