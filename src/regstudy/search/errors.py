"""The one error a search raises for input the user can fix before any trial runs."""


class SearchError(ValueError):
    """Bad search input (space, sampler, pruner, objective, storage, study): one line, exit 2."""
