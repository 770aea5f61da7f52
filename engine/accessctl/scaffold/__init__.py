"""Files the engine writes into an access repository: the CI workflows generated from
policies/providers.yaml, and the starting repository `accessctl init` lays out. Pure: text in,
text out; the commands do the reading and writing."""
