"""Services: the logic of each use of the service, taking domain values (never HTTP
models) and owning their transactions. Routes and the command line call them."""
