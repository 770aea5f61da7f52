"""Judge: model, time and approvals in, each request's state and the wanted grants out. Pure."""
