"""Services: the only modules that query the database on behalf of routes."""
